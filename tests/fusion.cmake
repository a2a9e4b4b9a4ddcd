# Fusion: schema, timestamps, patterns, policy, and the fusion rules against
# the demo graph and a persona store (hand-made triples, no model).
if(TARGET pe_fusion AND TARGET pe_importers)
  pe_add_test(test_fusion SOURCES test_fusion.c LIBS pe_fusion pe_importers pe_kgstore pe_personastore pe_util LABELS unit)
  target_compile_definitions(test_fusion PRIVATE PE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
