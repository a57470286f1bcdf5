/*
** mg_filter.h: shared filter design and processing for nodes (filter, eq, compressor
** sidechains...). Design functions are [any] (pure, no allocation); run functions are [rt].
**
** Two layers:
**   - mg_biquad: RBJ Audio EQ Cookbook coefficients (a0 normalised to 1) and a transposed
**     direct form II runner with double-precision state. For fixed filters (sidechain
**     weighting, analysis) and as the float64 reference |H| for tests.
**   - mg_svf and mg_filter_band: the modulation-friendly form the filter and eq nodes run.
**     A band is a lowpass/highpass cascade (Butterworth or Linkwitz-Riley, 12..48 dB/oct) or
**     one section of any other type, each section a trapezoidal state-variable filter
**     (Simper/Cytomic "SvfLinearTrapOptimised2", Zavalishin's TPT SVF) whose coefficients may
**     change every sample. Its transfer function for fixed parameters is exactly the RBJ one
**     (both are the bilinear transform prewarped at f0); unlike TDF-II its state variables
**     are the two integrator states, so changing the coefficients does not re-interpret
**     stored energy, and the structure stays stable for any time-varying g > 0, k > 0
**     (Wishnick, "Time-varying filters for musical applications", DAFx-14). Measured in
**     tests/nodes/test_filter.c: swept 20 Hz -> 20 kHz in 1 s on noise, the nodes match a
**     per-sample float64 SVF to below -137 dBFS; with freq, q and gain jumping randomly every
**     sample the output stays bounded, where a TDF-II biquad with the same per-sample
**     cookbook coefficients overflows to NaN (and differs from this form by -40 to -60 dBFS
**     even on the smooth sweep: the two structures are not equivalent once time-varying).
*/
#ifndef MG_FILTER_H
#define MG_FILTER_H

#include <stdint.h>

#include "mg_node.h"

typedef enum mg_filter_type {
    MG_FT_LOWPASS,
    MG_FT_HIGHPASS,
    MG_FT_BANDPASS, /* constant 0 dB peak gain */
    MG_FT_NOTCH,
    MG_FT_PEAK,
    MG_FT_LOWSHELF,
    MG_FT_HIGHSHELF,
    MG_FT_ALLPASS
} mg_filter_type;

/* Choice list in mg_filter_type order (a choice parameter's `.choices`). */
#define MG_FILTER_TYPES "lowpass|highpass|bandpass|notch|peak|lowshelf|highshelf|allpass"
#define MG_FILTER_NTYPES 8

/* Highest frequency a design uses, as a fraction of the rate; higher requests are clamped. */
#define MG_FILTER_FMAX 0.49

/* Transfer function (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2). */
typedef struct mg_biquad {
    double b0, b1, b2, a1, a2;
} mg_biquad;

/*
** [any] RBJ cookbook design. freq in Hz (clamped to (0, MG_FILTER_FMAX * rate]), q > 0 the
** quality factor (shelves: q = 1/sqrt((A + 1/A)(1/S - 1) + 2), so S = 1 is q = 1/sqrt(2)),
** gain_db used by peak and shelves only. Bandpass is the constant 0 dB peak variant.
*/
mg_biquad mg_biquad_design(mg_filter_type t, double freq, double q, double gain_db, double rate);

/* [any] 20 log10 |H(e^{j 2 pi freq / rate})|, evaluated in float64. */
double mg_biquad_mag_db(const mg_biquad *c, double freq, double rate);

/* One channel of TDF-II state, kept in double (float state costs ~0.1 dB at 5 Hz). */
typedef struct mg_biquad_state {
    double s1, s2;
} mg_biquad_state;

/* [rt] Zero the state. */
void mg_biquad_reset(mg_biquad_state *s);

/*
** [rt] y = H x over n samples; y may equal x. Non-finite state is cleared at the end of the
** call (a NaN input silences the filter instead of latching it).
*/
void mg_biquad_run(mg_biquad_state *s, const mg_biquad *c, const float *x, float *y,
                   uint32_t n);

/* ---- Butterworth and Linkwitz-Riley cascades ---- */

typedef enum mg_filter_design { MG_FD_BUTTERWORTH, MG_FD_LINKWITZ_RILEY } mg_filter_design;
#define MG_FILTER_DESIGNS "butterworth|linkwitz-riley"
#define MG_FILTER_MAX_SECTIONS 4 /* 48 dB/oct */

/*
** [any] Quality factors of the second-order sections of a lowpass/highpass with slope
** 12, 24, 36 or 48 dB/oct (order N = slope/6). Butterworth order N: Q_i = 1/(2 sin((2i-1)
** pi/(2N))), i = 1..N/2. Linkwitz-Riley order N: a Butterworth of order N/2 squared, each
** Butterworth section twice and, for odd N/2, the squared first-order pole as one section
** with Q = 1/2. Returns the number of sections (slope/12), 0 for another slope.
*/
int mg_filter_cascade_q(int slope_db, mg_filter_design d, double q[MG_FILTER_MAX_SECTIONS]);

/*
** [any] RBJ lowpass or highpass cascade (type MG_FT_LOWPASS or MG_FT_HIGHPASS) at freq with
** the sections of mg_filter_cascade_q; returns the section count (0: bad slope or type).
** A Linkwitz-Riley highpass of 12 or 36 dB/oct has its polarity inverted so lowpass +
** highpass sum to an allpass at every slope.
*/
int mg_biquad_design_cascade(mg_filter_type t, double freq, int slope_db, mg_filter_design d,
                             double rate, mg_biquad out[MG_FILTER_MAX_SECTIONS]);

/* ---- modulation-friendly sections (trapezoidal SVF) ---- */

/*
** One section. Per sample, with the state (ic1, ic2):
**   u = c x;  v3 = u - ic2;  v1 = a1 ic1 + a2 v3;  v2 = ic2 + a2 ic1 + a3 v3
**   ic1 = 2 v1 - ic1;  ic2 = 2 v2 - ic2;  y = m0 x + m1 v1 + m2 v2
** with g = tan(pi f/rate), k = 1/Q, a1 = 1/(1 + g (g + k)), a2 = g a1, a3 = g a2; v1 is the
** band output s/(s^2 + k s + 1) and v2 the low output 1/(s^2 + k s + 1) of the prototype.
** The input scale c is 1 except for peak and shelves, where the boost/cut path is fed with
** c = A^2 - 1 (peak) or A - 1 (shelves): at 0 dB c is exactly 0, the section is the identity
** with zero state and can be skipped, and a gain change enters through the filter instead
** of scaling a ringing state (so turning a band on is as smooth as its gain ramp).
**
** The runners execute the same update with v1, v2 substituted, as one state-space step on the
** same state variables (mg_svf_design derives the p, q, r coefficients from the above):
**   y = r0 x + r1 ic1 + r2 ic2;  ic1' = p11 ic1 + p12 ic2 + q1 x;  ic2' = p21 ic1 + p22 ic2 + q2 x
** It is the same time-varying system (the state is still the two integrators), but its
** serial dependency per sample is one multiply and two adds instead of five operations, which
** is what bounds a filter's speed: the recursion cannot be vectorised over time (and must not
** be reordered: results are identical at any block size). At 0 dB (c = 0) q1 = q2 = 0 and
** r0 = 1, so a section with zero state passes x through exactly. On x86 CPUs with AVX2 and
** FMA a band runs a second build of the runners (mg_filter_band.fma, set by
** mg_filter_band_init) whose steps fuse each multiply-add, y = r2 i2 + (r1 i1 + r0 x) etc.
** (two fused operations on the serial chain instead of a multiply and two adds); every path
** of that band then uses them, so it is still block-size independent, and its output differs
** from the baseline build by rounding only (measured against the float64 reference in
** tests/nodes/test_filter.c like the baseline).
*/
typedef struct mg_svf {
    double g, k;       /* prototype: frequency warp and damping (kept for the response) */
    double a1, a2, a3; /* integrator update */
    double c;          /* input scale into the integrators */
    double m0, m1, m2; /* output mix */
    /* the update as a state-space step (what the runners use) */
    double p11, p12, p21, p22; /* state to state */
    double q1, q2;             /* input to state */
    double r0, r1, r2;         /* input and state to output */
} mg_svf;

typedef struct mg_svf_state {
    double ic1, ic2;
} mg_svf_state;

/* [any] The section realising mg_biquad_design(t, freq, q, gain_db, rate) exactly. */
mg_svf mg_svf_design(mg_filter_type t, double freq, double q, double gain_db, double rate);

/* [any] The section's transfer function as a biquad (for responses and tests). */
mg_biquad mg_svf_biquad(const mg_svf *c);

/* ---- filter bands as the nodes use them ---- */

/* The parameters of a band, in the order every filter node declares them. */
enum { MG_FP_TYPE, MG_FP_FREQ, MG_FP_Q, MG_FP_BW, MG_FP_GAIN, MG_FP_COUNT };

/*
** The parameter descriptors of one band, written once for every filter node:
** `static const mg_param_desc params[] = {MG_FILTER_PARAMS(flags, type_default)};`
*/
#define MG_FILTER_PARAMS(flags_, type_def_)                                                     \
    {.name = "type", .unit = "", .min = 0, .max = MG_FILTER_NTYPES - 1, .def = (type_def_),     \
     .smooth_ms = 0, .flags = (flags_), .choices = MG_FILTER_TYPES,                            \
     .doc = "response shape (RBJ cookbook); changes apply at once"},                           \
    {.name = "freq", .unit = "Hz", .min = 1, .max = 96000, .def = 1000, .smooth_ms = 20,        \
     .flags = (flags_),                                                                        \
     .doc = "cutoff, centre or shelf midpoint frequency; used up to 0.49 x rate"},             \
    {.name = "q", .unit = "", .min = 0.05, .max = 50, .def = 0.7071067811865476,               \
     .smooth_ms = 20, .flags = (flags_),                                                       \
     .doc = "quality factor; shelves: 0.7071 is slope S = 1; unused by steep or "               \
            "Linkwitz-Riley lowpass/highpass"},                                                \
    {.name = "bw", .unit = "oct", .min = 0, .max = 8, .def = 0, .smooth_ms = 20,                \
     .flags = (flags_),                                                                        \
     .doc = "bandwidth replacing q when > 0 (bandpass, notch, peak, allpass): "                \
            "1/q = 2 sinh(ln2/2 bw w0/sin w0)"},                                               \
    {.name = "gain", .unit = "dB", .min = -48, .max = 48, .def = 0, .smooth_ms = 20,            \
     .flags = (flags_), .doc = "boost or cut of peak and shelves; 0 dB bypasses them"}

typedef struct mg_filter_params {
    int type;      /* mg_filter_type */
    double freq;   /* Hz */
    double q;      /* quality factor */
    double bw;     /* octaves; > 0 overrides q for bandpass, notch, peak, allpass */
    double gain;   /* dB */
} mg_filter_params;

/*
** One band: its configuration, the coefficients of its current parameters and the state of
** every channel. Plain data, no allocation: lives inside a node's state.
*/
typedef struct mg_filter_band {
    int slope;                  /* [immutable] dB/oct of lowpass/highpass: 12, 24, 36, 48 */
    mg_filter_design design;    /* [immutable] */
    int fma;                    /* [immutable] run the FMA build (see filter.c) */
    mg_filter_params key;       /* [rt] parameters the coefficients below are for */
    int n;                      /* [rt] sections in use (0: coefficients not computed yet) */
    mg_svf sec[MG_FILTER_MAX_SECTIONS];
    mg_svf_state st[MG_MAX_CHANNELS][MG_FILTER_MAX_SECTIONS];
} mg_filter_band;

/*
** [any] The sections realising `p` for a band of the given slope and design; returns their
** count. Lowpass/highpass with slope 12 and Butterworth is one RBJ section with Q = p->q;
** steeper or Linkwitz-Riley ones use the mg_filter_cascade_q values; other types are one
** section.
*/
int mg_filter_design_band(const mg_filter_params *p, int slope, mg_filter_design d,
                          double rate, mg_svf sec[MG_FILTER_MAX_SECTIONS]);

/* [control] Configure a zeroed band (slope must be 12, 24, 36 or 48). */
void mg_filter_band_init(mg_filter_band *b, int slope, mg_filter_design d);

/* [rt] Clear every channel's state. */
void mg_filter_band_reset(mg_filter_band *b);

/*
** [rt] Filter `channels` buffers io[c] of n frames in place. The band's parameters are
** p[MG_FP_TYPE * stride], p[MG_FP_FREQ * stride], ... (stride 1 for a node with one band, N for
** band k of an N-band node whose MULTI parameters are laid out type1..typeN, freq1..).
** Constant parameters use cached coefficients; ramping ones are redesigned every sample.
** Output is a function of the per-frame values only: identical at any block size.
*/
void mg_filter_band_process(mg_filter_band *b, const mg_pval *p, int stride, float *const *io,
                            int channels, uint32_t n, double rate);

/* [control] The current target values of a band's parameters (indices as above). */
mg_filter_params mg_filter_params_get(const mg_node *node, int first, int stride);

/* [any] Magnitude response of a band in dB at freq. */
double mg_filter_band_mag_db(const mg_filter_params *p, int slope, mg_filter_design d,
                             double freq, double rate);

/* [any] Frames for the band's impulse response to decay by 120 dB (0 when it is bypassed). */
int64_t mg_filter_band_tail(const mg_filter_params *p, int slope, mg_filter_design d,
                            double rate);

/* ---- the shared implementation of the filter nodes (filter, eq) ---- */

/* The options of every filter node, in this order: `{..., MG_FILTER_OPTIONS}`. */
#define MG_FILTER_OPTIONS                                                                       \
    {.name = "slope", .type = MG_OPT_INT, .unit = "dB/oct", .min = 12, .max = 48, .def = 12,    \
     .doc = "steepness of lowpass/highpass: 12, 24, 36 or 48 (2 to 8 poles)"},                 \
    {.name = "design", .type = MG_OPT_ENUM, .choices = MG_FILTER_DESIGNS, .def = 0,             \
     .doc = "alignment of lowpass/highpass: Butterworth (-3.01 dB at freq) or Linkwitz-Riley "  \
            "(-6.02 dB, squared Butterworth; lowpass + highpass sum flat)"}

/*
** A filter node's state: `bands` bands in series; band k reads its parameters at k, k + bands,
** k + 2 bands... (a MULTI parameter list, or the plain list when bands = 1).
*/
typedef struct mg_filter_node {
    int bands; /* [immutable] */
    mg_filter_band band[];
} mg_filter_node;

#define MG_FILTER_NODE_SIZE(bands) (sizeof(mg_filter_node) + (bands) * sizeof(mg_filter_band))

/*
** [control] From a node's create: read MG_FILTER_OPTIONS starting at option index `first`,
** set up `bands` bands. Fails (reported on node) for a slope that is not a multiple of 12.
*/
mg_status mg_filter_node_setup(mg_filter_node *s, mg_node *node, int first, int bands);

/* Descriptor callbacks shared by the filter nodes. */
void mg_filter_node_reset(void *state);                         /* [rt] */
void mg_filter_node_process(void *state, const mg_block *b);    /* [rt] in place or not */
void mg_filter_node_chain(void *const *states, const mg_block *const *b,
                          int n);                               /* [rt] process_chain */
double mg_filter_node_response(const void *state, const mg_node *node, double freq,
                               double rate);                    /* [control] sum of bands */
int64_t mg_filter_node_tail(const void *state, const mg_node *node,
                            double rate);                       /* [control] sum of bands */

#endif
