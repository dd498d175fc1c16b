# Warnings for the project's own targets only; third-party headers stay -isystem.
function(automate_set_warnings target)
  # Designated initializers that leave fields to their defaults are idiomatic.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(AUTOMATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# automate_test(NAME automate_store_test SRCS a_test.cc ... [DEPS ...] [LABELS ...])
# One GoogleTest executable, registered with gtest_discover_tests.
function(automate_test)
  cmake_parse_arguments(T "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE automate automate_testing automate_test_util GTest::gmock GTest::gtest_main ${T_DEPS})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/libautomate/src ${PROJECT_SOURCE_DIR}/tests)
  automate_set_warnings(${T_NAME})
  if(TARGET automate_tsan_absl)
    # Exported, so that Abseil's own calls reach the annotated functions too.
    target_link_libraries(${T_NAME} PRIVATE automate_tsan_absl)
    set_target_properties(${T_NAME} PROPERTIES ENABLE_EXPORTS ON)
  endif()
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${labels}"
               ENVIRONMENT "AUTOMATE_SOURCE_DIR=${PROJECT_SOURCE_DIR};AUTOMATE_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
