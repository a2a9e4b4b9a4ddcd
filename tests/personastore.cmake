pe_add_test(test_personastore SOURCES test_personastore.c LIBS pe_personastore pe_util pe_dep_lmdb pe_dep_raptor pe_dep_cjson Threads::Threads LABELS unit)
