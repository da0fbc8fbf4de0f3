// gen_doubles writes doubles.txt, the oracle for AppendDouble's tests: one
// line per value with its IEEE-754 bits in hex, RapidJSON's Writer::Double
// rendering (what osquery emits for REAL cells with --logger_numerics) and
// std::ostream at precision 15 (osquery's castVariant, before it appends
// ".0"). Needs rapidjson-dev; build and run from this directory:
//
//	g++ -O2 -o /tmp/gen_doubles gen_doubles.cpp && /tmp/gen_doubles > doubles.txt
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

static void emit(double d) {
  if (!std::isfinite(d)) {
    return;
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.Double(d);
  std::ostringstream ss;
  ss << std::setprecision(std::numeric_limits<double>::digits10) << d;
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof(bits));
  std::printf("%016" PRIx64 " %s %s\n", bits, sb.GetString(), ss.str().c_str());
}

int main() {
  const double fixed[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.5, 3.53,
                          100.0, 1e15, 1e16, 1e17, 1e20, 1e21, 1e22, 1e23,
                          123456789012345678.0, 1e-5, 1e-6, 1e-7, 1.5e-7,
                          0.000001234, 5e-324, 2.2250738585072014e-308,
                          1.7976931348623157e308, 4.9406564584124654e-324,
                          3.14159265358979, 2.718281828459045, 1.0 / 3.0,
                          2.0 / 3.0, 9007199254740993.0, 9007199254740992.0,
                          0.5, 0.25, 12.5, 99.99, 1234.5678, 65535.0, 4294967296.0};
  for (double d : fixed) {
    emit(d);
    emit(-d);
  }
  for (int e = -330; e <= 310; e++) {
    emit(std::pow(10.0, e));
    emit(3.0 * std::pow(10.0, e));
  }
  std::mt19937_64 rng(20250106);
  for (int i = 0; i < 3000; i++) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    emit(d);
  }
  // Short decimals, the usual content of osquery's DOUBLE columns.
  for (int i = 0; i < 2000; i++) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%" PRIu64 ".%0*" PRIu64,
                  rng() % 100000, static_cast<int>(rng() % 6 + 1), rng() % 1000000);
    emit(std::strtod(buf, nullptr));
  }
  return 0;
}
