// Catch2 v2 provides main(); every other file in tests/unit holds test cases.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
