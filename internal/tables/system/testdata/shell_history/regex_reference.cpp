// Reference for the *.expected files: splits a history file on '\n' and
// applies the two regular expressions osquery's shell_history uses, with
// std::regex (ECMAScript), to check gosquery's hand-written matcher.
//   g++ -O1 -o ref regex_reference.cpp && ./ref bash_history > bash_history.expected
// Output: one row per line, "<time>|<command>" with time "NULL" when the
// digits overflow a 64-bit integer.
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>

static std::string timeOf(const std::string& digits) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(digits.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return "NULL";
  return std::to_string(v);
}

int main(int argc, char** argv) {
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string content = ss.str();
  std::regex bash_rx{"^#([0-9]+)$"};
  std::regex zsh_rx{"^: {0,10}([0-9]{1,11}):[0-9]+;(.*)$"};
  std::string pending;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    std::string line = content.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? content.size() : nl + 1;
    std::smatch m;
    if (pending.empty() && std::regex_search(line, m, bash_rx)) {
      pending = m[1];
      continue;
    }
    if (!pending.empty()) {
      std::cout << timeOf(pending) << "|" << line << "\n";
      pending.clear();
    } else if (std::regex_search(line, m, zsh_rx)) {
      std::cout << timeOf(m[1]) << "|" << m[2] << "\n";
    } else {
      std::cout << "0|" << line << "\n";
    }
  }
  return 0;
}
