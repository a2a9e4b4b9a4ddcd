pe_add_test(test_util SOURCES test_util.c LIBS pe_util LABELS unit)
