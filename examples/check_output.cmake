# Runs one example and compares its whole standard output with a file.
#
#   cmake -DEXE=<binary> -DEXPECTED=<file> [-DUNORDERED_HEAD=<n>]
#         [-DELAPSED_MIN=<centiseconds> -DELAPSED_MAX=<centiseconds>]
#         [-DLAUNCHER="<program> <args>"] -P check_output.cmake
#
# EXPECTED holds the exact lines the example must print.
# UNORDERED_HEAD=n: the first n lines may come in any order (tasks that start at
#   the same moment on different workers).
# ELAPSED_MIN/MAX: the example prints one more, last line "elapsed: X.YY s";
#   it must satisfy ELAPSED_MIN <= X.YY*100 < ELAPSED_MAX.
# LAUNCHER: a command the example is run under (e.g. taskset -c 0).
cmake_minimum_required(VERSION 3.20)

foreach(var EXE EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_output.cmake: ${var} not set")
  endif()
endforeach()

separate_arguments(launcher UNIX_COMMAND "${LAUNCHER}")
execute_process(COMMAND ${launcher} ${EXE}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 25)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${EXE} exited with '${rc}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err STREQUAL "")
  message(FATAL_ERROR "${EXE} wrote to stderr:\n${err}")
endif()

# Text to a list of lines (the examples print no ';').
function(to_lines text outvar)
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${outvar} "${text}" PARENT_SCOPE)
endfunction()

file(READ ${EXPECTED} want_text)
to_lines("${want_text}" want)
to_lines("${out}" got)

if(DEFINED ELAPSED_MIN)
  list(LENGTH got n)
  if(n EQUAL 0)
    message(FATAL_ERROR "no output")
  endif()
  list(POP_BACK got last)
  if(NOT last MATCHES "^elapsed: ([0-9]+)\\.([0-9][0-9]) s$")
    message(FATAL_ERROR "last line is not 'elapsed: X.YY s': '${last}'\nstdout:\n${out}")
  endif()
  math(EXPR cs "${CMAKE_MATCH_1} * 100 + 1${CMAKE_MATCH_2} - 100")
  if(cs LESS ELAPSED_MIN OR NOT cs LESS ELAPSED_MAX)
    message(FATAL_ERROR "${last}: outside [${ELAPSED_MIN}, ${ELAPSED_MAX}) centiseconds")
  endif()
endif()

if(DEFINED UNORDERED_HEAD AND UNORDERED_HEAD GREATER 0)
  foreach(l want got)
    list(LENGTH ${l} n)
    if(n LESS UNORDERED_HEAD)
      continue()
    endif()
    list(SUBLIST ${l} 0 ${UNORDERED_HEAD} head)
    list(SUBLIST ${l} ${UNORDERED_HEAD} -1 tail)
    list(SORT head)
    set(${l} ${head} ${tail})
  endforeach()
endif()

if(NOT "${got}" STREQUAL "${want}")
  string(REPLACE ";" "\n" want_show "${want}")
  message(FATAL_ERROR "output differs\n--- expected ---\n${want_show}\n--- got ---\n${out}")
endif()
message(STATUS "${EXE}: output as expected")
