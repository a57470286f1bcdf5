# Included from tests/engine/CMakeLists.txt: the BS.1770-5 / EBU R128 meter.
mg_c_test(test_loudness test_loudness.c)
mg_c_test(test_loudness_range test_loudness_range.c)
mg_c_test(test_loudness_ebu test_loudness_ebu.c)
