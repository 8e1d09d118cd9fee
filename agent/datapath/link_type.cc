#include "agent/datapath/link_type.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

namespace nfr::datapath {

bool IsL3Device(const std::string& ifname) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr = {};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool l3 = false;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
    switch (ifr.ifr_hwaddr.sa_family) {
      case ARPHRD_NONE:     // tun (IFF_TUN), WireGuard
      case ARPHRD_RAWIP:    // rmnet, some LTE modems
      case ARPHRD_PPP:      // pppoe-wan and friends
      case ARPHRD_TUNNEL:   // ipip
      case ARPHRD_TUNNEL6:  // ip6tnl
      case ARPHRD_SIT:
        l3 = true;
        break;
      default:
        break;
    }
  }
  close(fd);
  return l3;
}

}  // namespace nfr::datapath
