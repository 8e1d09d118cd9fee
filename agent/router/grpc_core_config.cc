// Router profile (NFR_ROUTER_PROFILE): gRPC's core configuration without xDS, RLS, grpclb, the
// priority/weighted/ring-hash/outlier LB policies, fault injection and the fake resolver.
// Linked before libgrpc.a, this definition keeps the linker from pulling gRPC's own
// grpc_plugin_registry.o and with it ~2 MiB of xDS code the agent and nfrctl never use (they
// serve and dial plain Unix/TCP targets, pick_first). The calls and their order are gRPC
// 1.51's BuildCoreConfiguration (Debian 12) minus those; cmake/NfrRouterProfile.cmake checks the
// gRPC version. The declarations name gRPC-internal functions: only their symbols matter.
namespace grpc_core {
class CoreConfiguration {
 public:
  class Builder;
};
using B = CoreConfiguration::Builder;
void RegisterHttpConnectHandshaker(B*);
void RegisterTCPConnectHandshaker(B*);
void RegisterPickFirstLbPolicy(B*);
void RegisterRoundRobinLbPolicy(B*);
void BuildClientChannelConfiguration(B*);
void SecurityRegisterHandshakerFactories(B*);
void RegisterClientAuthorityFilter(B*);
void RegisterChannelIdleFilters(B*);
void RegisterHttpFilters(B*);
void RegisterDeadlineFilter(B*);
void RegisterMessageSizeFilter(B*);
void RegisterServiceConfigChannelArgFilter(B*);
void RegisterResourceQuota(B*);
void RegisterAresDnsResolver(B*);
void RegisterNativeDnsResolver(B*);
void RegisterSockaddrResolver(B*);
void RegisterHttpProxyMapper(B*);
void RegisterSecurityFilters(B*);
void RegisterBuiltins(B*);
void BuildCoreConfiguration(B* builder);
}  // namespace grpc_core

namespace grpc_event_engine::experimental {
void RegisterEventEngineChannelArgPreconditioning(grpc_core::B*);
}  // namespace grpc_event_engine::experimental

void grpc_core::BuildCoreConfiguration(B* builder) {
  grpc_event_engine::experimental::RegisterEventEngineChannelArgPreconditioning(builder);
  // Handshakers: TCP connect registered last so it runs first.
  RegisterHttpConnectHandshaker(builder);
  RegisterTCPConnectHandshaker(builder);
  RegisterPickFirstLbPolicy(builder);
  RegisterRoundRobinLbPolicy(builder);
  BuildClientChannelConfiguration(builder);
  SecurityRegisterHandshakerFactories(builder);
  RegisterClientAuthorityFilter(builder);
  RegisterChannelIdleFilters(builder);
  RegisterHttpFilters(builder);
  RegisterDeadlineFilter(builder);
  RegisterMessageSizeFilter(builder);
  RegisterServiceConfigChannelArgFilter(builder);
  RegisterResourceQuota(builder);
  RegisterAresDnsResolver(builder);
  RegisterNativeDnsResolver(builder);
  RegisterSockaddrResolver(builder);
  RegisterHttpProxyMapper(builder);
  // Security filters last so they sit at a consistent place in the stack.
  RegisterSecurityFilters(builder);
  RegisterBuiltins(builder);
}
