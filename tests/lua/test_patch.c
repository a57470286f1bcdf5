/*
** test_patch.c: Lua patches: graph building through the binding, and errors that name the
** patch line (wrong parameter names, out-of-range values, wrong types, cycles, bad ports).
*/
#include <unistd.h>

#include "mg_lua.h"
#include "mg_test.h"

static char dir[] = "/tmp/mg_test_patch_XXXXXX";

static const char *write_patch(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Run a patch that must fail; the message must start with "NAME:LINE:" and contain `want`. */
static void expect_error(const char *text, int line, const char *want)
{
    const char *path = write_patch("bad.lua", text);
    char err[1024], prefix[600];
    mg_graph_config cfg = mg_graph_config_default();
    mg_patch *p = mg_patch_run(path, &cfg, NULL, 0, err, sizeof err);
    CHECK(p == NULL, "patch should fail: %s", text);
    if (p) {
        mg_patch_free(p);
        return;
    }
    snprintf(prefix, sizeof prefix, "%s:%d:", path, line);
    CHECK(strncmp(err, prefix, strlen(prefix)) == 0, "message '%s' should start with '%s'", err,
          prefix);
    CHECK(strstr(err, want) != NULL, "message '%s' should contain '%s'", err, want);
}

static mg_patch *expect_ok(const char *text, const mg_patch_arg *args, int n)
{
    const char *path = write_patch("good.lua", text);
    char err[1024];
    mg_graph_config cfg = mg_graph_config_default();
    mg_patch *p = mg_patch_run(path, &cfg, args, n, err, sizeof err);
    CHECK(p != NULL, "patch should run: %s", p ? "" : err);
    return p;
}

static void test_errors(void)
{
    expect_error("local g = ...\nlocal o = g:osc{ frq = 440 }\n", 2,
                 "osc has no parameter or option 'frq' (did you mean 'freq'?)");
    expect_error("local g = ...\nlocal o = g:osc{}\n\no.frequency = 3\n", 4,
                 "has no parameter 'frequency'");
    expect_error("local g = ...\nlocal o = g:osc{ freq = 30000 }\n", 2,
                 "freq 30000 out of range [0, 24000] Hz");
    expect_error("local g = ...\nlocal a = g:gain{}\na.gain = 99\n", 3,
                 "node 'gain1': gain 99 out of range [-144, 24] dB");
    expect_error("local g = ...\nlocal o = g:osc{ freq = 'high' }\n", 2,
                 "parameter 'freq' expects a number, got string");
    expect_error("local g = ...\nlocal o = g:osc{}\no.freq = {}\n", 3,
                 "parameter 'freq' expects a number, got table");
    expect_error("local g = ...\nlocal o = g:osc{ shape = 3 }\n", 2,
                 "option 'shape' expects a string, got number");
    expect_error("local g = ...\nlocal o = g:osc{ shape = 'sqr' }\n", 2,
                 "expects one of sine|saw|square|triangle, got 'sqr'");
    expect_error("local g = ...\nlocal o = g:osc{}\no.shape = 'saw'\n", 3,
                 "option 'shape' is fixed when the node is made");
    expect_error("local g = ...\nlocal a, b = g:gain{}, g:gain{}\n_ = a >> b\n_ = b >> a\n", 4,
                 "cycle: gain1 -> gain2 -> gain1 (route feedback through a delay node)");
    expect_error("local g = ...\nlocal a = g:gain{}\nlocal p = a.sidechain\n", 3,
                 "node 'gain1' (gain) has no field 'sidechain'");
    expect_error("local g = ...\nlocal m = g:mix{ inputs = 1 }\n_ = g:osc{} >> m\n"
                 "_ = g:osc{} >> m\n", 4, "all 1 inputs of 'mix1' are in use");
    expect_error("local g = ...\nlocal x = g:reverb9{}\n", 2, "graph has no field 'reverb9'");
    expect_error("local g = ...\nlocal m = g:mix{}\nm.inputs[2].gian = 1\n", 3,
                 "node 'mix1': inputs[2] has no parameter 'gian'");
    expect_error("local g = ...\nlocal m = g:mix{}\nm.inputs[1].gain = 99\n", 3,
                 "gain1 99 out of range");
    /* automation (docs/lua.md, Automation) */
    expect_error("local g = ...\nlocal d = g:dc{ value = 1 }\nd:param('value'):exp_to(0, 1)\n",
                 3, "node 'dc1': value: exp_to 0: an exponential ramp cannot reach 0");
    expect_error("local g = ...\nlocal d = g:dc{}\nd:param('value'):exp_to(5, 1)\n", 3,
                 "value: exp_to 5: an exponential ramp cannot pass through 0 (it starts from 0)");
    expect_error("local g = ...\nlocal f = g:filter{}\nlocal p = f:param('freq')\n"
                 "p:set(100, 0.5)\np:curve({ 100, 200 }, 0.4, 0.2)\n", 5,
                 "freq: curve from 0.4 s to 0.6 s overlaps the set at 0.5 s");
    expect_error("local g = ...\nlocal f = g:filter{}\nf:param('freq'):curve({ 100, 200 }, 1, 1)"
                 ":linear_to(50, 1.5)\n", 3,
                 "freq: linear_to at 1.5 s falls inside the curve from 1 s to 2 s");
    expect_error("local g = ...\nlocal f = g:filter{}\nf:param('freq'):linear_to(200000, 1)\n", 3,
                 "freq: value 200000 out of range [1, 96000] Hz");
    expect_error("local g = ...\nlocal f = g:filter{}\nf:param('freq'):set(100, -1)\n", 3,
                 "freq: set at -1 s: time must be in [0, 1e7) s");
    expect_error("local g = ...\nlocal f = g:filter{}\nf:param('freq'):target(100, 1, -2)\n", 3,
                 "freq: target time constant -2 s must be >= 0");
    expect_error("local g = ...\nlocal f = g:filter{}\nlocal p = f:param('frq')\n", 3,
                 "node 'filter1' (filter) has no parameter 'frq' (did you mean 'freq'?)");
    expect_error("local g = ...\nlocal f = g:filter{}\nlocal o = g:osc{}\n_ = o >> f\n"
                 "o:param('freq'):mod(f, 10)\n", 5, "freq: modulation by 'filter1' would close a loop");
    expect_error("local g = ...\nlocal o = g:osc{}\no:param('freq'):fn(function(t) return t end, "
                 "{ rate = 0 })\n", 3, "freq: fn rate 0 Hz out of range (0, 48000]");
    expect_error("local g = ...\ng:tempo(500)\n", 2, "tempo 500 BPM out of range [20, 400]");
    expect_error("local g = ...\ng:tempo(100, { at = 2 })\ng:tempo(90, { at = 1 })\n", 3,
                 "tempo change at 1 s must come after the previous one (2 s)");
    expect_error("local g = ...\nlocal x = g:note('3/0')\n", 2, "note '3/0': expected N/D");
    expect_error("local g = ...\ng:stem(g:osc{}, 'a/b')\n", 2,
                 "stem name 'a/b' must be a plain file name");
    expect_error("local g = ...\nlocal m = g:mix{}\nlocal r = m:response{ 100 }\n", 3,
                 "has no frequency response");
    expect_error("local g = ...\nlocal f = g:filter{ type = 'lowpas' }\n", 2,
                 "parameter 'type' expects one of lowpass|highpass");
    expect_error("local g = ...\nlocal e = g:eq{}\ne.bands[1].type = 'shelf'\n", 3,
                 "parameter 'type1' expects one of");
    expect_error("local g = ...\nlocal c = g:compressor{}\nc.gain_reduction = 3\n", 3,
                 "'gain_reduction' is a meter (read only)");
    expect_error("local g = ...\n\nerror('boom')\n", 3, "boom");
    expect_error("local g = ...\ng.tempo = 1000\n", 2, "tempo 1000 BPM out of range [20, 400]");
    expect_error("local g = ...\nlocal a = g:gain{}\n_ = a >> 3\n", 3, "cannot connect to a number");
    expect_error("local g = ...\ng:file{ path = '/nonexistent/x.wav' }\n", 2,
                 "cannot open '/nonexistent/x.wav'");
}

static void test_building(void)
{
    mg_patch_arg args[] = {{"freq", "220"}, {"name", "lead"}, {"loud", "true"}};
    mg_patch *p = expect_ok(
        "local g, args = ...\n"
        "assert(args.freq == 220 and math.type(args.freq) == 'integer')\n"
        "assert(args.name == 'lead' and args.loud == true)\n"
        "local mg = require 'mixgraph'\n"
        "assert(type(mg.version) == 'string')\n"
        "local o = g:osc{ freq = args.freq, name = args.name, shape = 'saw' }\n"
        "assert(o.freq == 220 and o.name == 'lead' and o.type == 'osc' and o.shape == 'saw')\n"
        "local m = g:mix{ inputs = 2, gain2 = -6 }\n"
        "assert(m.gain2 == -6)\n"
        "assert(#m.inputs == 2 and m.inputs[2].gain == -6)\n"
        "m.inputs[1].gain = -3\n"
        "assert(m.gain1 == -3)\n"
        "local n = g:noise{ color = 'pink' }\n"
        "_ = o >> m\n"
        "n:to(m)\n"
        "local out = m >> g:gain{ gain = -3 } >> g:pan{ pan = 0.25 } >> g.output\n"
        "assert(out == g.output)\n"
        "assert(tostring(m['in2']):find('input port'))\n"
        "o.freq = 330\n"
        "local e = g:eq{ bands = 3 }\n"
        "e.bands[2].gain = -3\n"
        "e.bands[2].type = 'peak'\n"
        "assert(e.gain2 == -3 and e.type2 == 'peak' and e.bands[2].type == 'peak')\n"
        "local r = e:response{ e.bands[2].freq, 20 }\n"
        "assert(math.abs(r[1] - -3) < 0.05, 'response at the band centre: ' .. r[1])\n"
        "e.bands[3].type = 3\n"
        "assert(e.type3 == 'notch', 'choice by index reads back as a name')\n"
        "local c = g:compressor{ detector = 'rms' }\n"
        "assert(c.detector == 'rms' and c.gain_reduction == 0)\n"
        "local f = g:filter{ type = 'highpass', freq = 80, slope = 24 }\n"
        "assert(f.type == 'highpass' and f:response{ 80 }[1] < -2.9)\n"
        "g.duration = 2\n"
        "assert(g:tempo() == 120)\n"
        "g.tempo = 96\n"
        "assert(g:tempo() == 96)\n"
        "local order = g:nodes()\n"
        "assert(order[#order] == g.output, 'output last')\n",
        args, 3);
    if (p) {
        mg_graph *g = mg_patch_graph(p);
        CHECK(mg_graph_node_count(g) == 9, "9 nodes, got %d", mg_graph_node_count(g));
        mg_node *lead = mg_graph_find(g, "lead");
        CHECK(lead && mg_node_get_index(lead, mg_node_param_index(lead, "freq")) == 330,
              "osc freq set to 330");
        CHECK(mg_patch_duration(p) == 2, "duration from the patch");
        mg_patch_free(p);
    }
    /* a patch may return its own graph */
    p = expect_ok("local mg = require 'mixgraph'\nlocal g = mg.graph{ rate = 44100 }\n"
                  "g:osc{ duration = 1 }:to(g.output)\nreturn g\n",
                  NULL, 0);
    if (p) {
        CHECK(mg_graph_rate(mg_patch_graph(p)) == 44100, "returned graph used");
        CHECK(mg_graph_length(mg_patch_graph(p)) == 44100, "length 1 s");
        mg_patch_free(p);
    }
}

/* Automation, tempo and randomness through the binding (values checked in Lua). */
static void test_automation(void)
{
    mg_patch *p = expect_ok(
        "local g = ...\nlocal mg = require 'mixgraph'\n"
        "g:tempo(120)\n"
        "assert(g:beats(4) == 2 and g:bars(1) == 2, 'beats and bars at 120')\n"
        "g:tempo(60, { bar = 2 })\n"
        "assert(g:bars(2) == 4 and g:bars(3) == 8, 'a tempo change at bar 2: ' .. g:bars(3))\n"
        "assert(g:beats(10) == 4 + 2, 'beats past the change')\n"
        "assert(g:note('1/8.') == 0.375 and math.abs(g:note('1/4t', 5) - 2 / 3) < 1e-12)\n"
        "g:tempo(100, { at = 10, beats_per_bar = 3 })\n"
        "assert(g:bars(4) == 8 and math.abs(g:bars(6) - 12.4) < 1e-12, 'beats_per_bar 3: ' .. g:bars(6))\n"
        "local d = g:dc{ name = 'd', value = 1 }\n"
        "local p = d:param('value')\n"
        "assert(p:set(2, 1):linear_to(4, 2):exp_to(8, 3) == p, 'chainable')\n"
        "assert(p:value_at(0.5) == 1 and p:value_at(1.5) == 3 and p:value_at(2.5) == 4 * 2 ^ 0.5)\n"
        "p:hold(2.5)\nassert(p:value_at(10) == 4 * 2 ^ 0.5, 'held')\n"
        "p:cancel(0)\nassert(p:value_at(10) == 1, 'cancelled')\n"
        "p:curve({ 0, 10 }, 1, 2)\nassert(p:value_at(1.5) == 2.5 and p:value_at(5) == 10)\n"
        "assert(p.name == 'value' and p.node == d and p.value == 1)\n"
        "assert(tostring(p) == \"parameter 'd.value'\")\n"
        "local lfo = g:osc{ freq = 1 }\n"
        "assert((lfo >> p) == p, 'lfo >> param modulates')\n"
        "p:mod(nil)\n"
        "mg.seed(5)\nlocal a = { mg.random(), mg.random(6), mg.random(-3, 3) }\n"
        "mg.seed(5)\nlocal b = { mg.random(), mg.random(6), mg.random(-3, 3) }\n"
        "assert(a[1] == b[1] and a[2] == b[2] and a[3] == b[3], 'same seed, same numbers')\n"
        "assert(a[1] >= 0 and a[1] < 1 and a[2] >= 1 and a[2] <= 6 and a[3] >= -3 and a[3] <= 3)\n"
        "mg.seed(6)\nassert(mg.random() ~= a[1], 'another seed, another number')\n"
        "g:stem(d, 'probe')\n",
        NULL, 0);
    if (p) {
        mg_graph *g = mg_patch_graph(p);
        CHECK(mg_graph_stem_count(g) == 1 && strcmp(mg_graph_stem_name(g, 0), "probe") == 0,
              "g:stem registers a stem");
        mg_patch_free(p);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_errors();
    test_building();
    test_automation();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return mg_test_done("test_patch");
}
