// The mTLS server credentials of every TCP listener (the agent's api.tls, the
// gateway's link_tls and api_tls): certificate, key and the CA client
// certificates must chain to. Errors name the config field and the file.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nfr/v1/config.pb.h"

namespace nfr {

// The whole file; INVALID_ARGUMENT "FIELD: cannot read PATH; ..." otherwise.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view field);

// Requires and verifies a client certificate; `field` prefixes errors
// (e.g. "api.tls" -> "api.tls.cert_file: required (PEM file)").
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MutualTlsServerCredentials(
    const nfr::v1::TlsConfig& tls, absl::string_view field);

}  // namespace nfr
