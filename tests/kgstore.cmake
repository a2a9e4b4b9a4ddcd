pe_add_test(test_kgstore SOURCES test_kgstore.c LIBS pe_kgstore pe_util LABELS unit)
