#include "agent/datapath/run_state.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace nfr::datapath {

uint64_t CurrentNetnsIno() {
  struct stat st;
  return stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
}

RunState ReadRunState(const std::string& path) {
  RunState s;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "netns") {
      in >> s.netns_ino;
    } else if (tag == "attach") {
      Attachment a;
      std::string dir;
      if (in >> a.ifindex >> dir >> a.ifname && a.ifindex > 0) {
        a.dir = dir == "egress" ? TcDirection::kEgress : TcDirection::kIngress;
        s.attachments.push_back(a);
      }
    }
  }
  return s;
}

void WriteRunState(const std::string& path, const RunState& state) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "netns " << state.netns_ino << "\n";
    for (const auto& a : state.attachments) {
      f << "attach " << a.ifindex << " " << TcDirectionName(a.dir) << " " << a.ifname << "\n";
    }
  }
  std::rename(tmp.c_str(), path.c_str());
}

void RemoveRunState(const std::string& path) { unlink(path.c_str()); }

}  // namespace nfr::datapath
