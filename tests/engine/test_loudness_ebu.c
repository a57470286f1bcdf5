/*
** test_loudness_ebu.c: the official EBU Tech 3341 test files for cases 10 (max short-term,
** 20 files), 13 (max momentary, 20 files) and 15-23 (true peak), read from $MIXGRAPH_EBU_DIR
** (../shared/testdata/ebu; .ci/run sets it when the folder exists) and measured through
** mg_analyze_file. Expected values and tolerances: DSP_TESTS.md §1.2. Skipped, with a message,
** when the variable is unset. Runs on the test's main thread.
*/
#include "mg_analyze.h"
#include "mg_test.h"

static int measure(const char *dir, const char *name, mg_file_analysis *a)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mg_status st = mg_analyze_file(path, a, err, sizeof err);
    CHECK(st == MG_OK, "%s", err);
    return st == MG_OK;
}

int main(void)
{
    const char *dir = getenv("MIXGRAPH_EBU_DIR");
    if (!dir || !*dir) {
        printf("test_loudness_ebu: MIXGRAPH_EBU_DIR is not set; skipping the EBU file checks "
               "(point it at ../shared/testdata/ebu to run them)\n");
        return 0;
    }
    mg_file_analysis a;
    char name[64], what[96];
    for (int i = 1; i <= 20; i++) {
        snprintf(name, sizeof name, "seq-3341-10-%d-24bit.flac", i);
        if (measure(dir, name, &a)) {
            snprintf(what, sizeof what, "Tech 3341 case 10-%d file: max S (expect -23)", i);
            CHECK_NEAR(a.shortterm_max, -23.0, 0.1, what);
            mg_test_report(what, a.shortterm_max, "LUFS");
        }
        snprintf(name, sizeof name, "seq-3341-13-%d-24bit.flac", i);
        if (measure(dir, name, &a)) {
            snprintf(what, sizeof what, "Tech 3341 case 13-%d file: max M (expect -23)", i);
            CHECK_NEAR(a.momentary_max, -23.0, 0.1, what);
            mg_test_report(what, a.momentary_max, "LUFS");
        }
    }
    static const double tp[] = {-6, -6, -6, -6, 3, 0, 0, 0, 0}; /* cases 15..23 */
    for (int c = 15; c <= 23; c++) {
        snprintf(name, sizeof name, "seq-3341-%d-24bit.flac", c);
        if (!measure(dir, name, &a))
            continue;
        snprintf(what, sizeof what, "Tech 3341 case %d file: TP (expect %+g, +0.2/-0.4)", c,
                 tp[c - 15]);
        CHECK(a.true_peak <= tp[c - 15] + 0.2 && a.true_peak >= tp[c - 15] - 0.4,
              "%s: got %.3f dBTP", what, a.true_peak);
        mg_test_report(what, a.true_peak, "dBTP");
    }
    return mg_test_done("test_loudness_ebu");
}
