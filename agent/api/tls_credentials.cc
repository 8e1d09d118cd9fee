#include "agent/api/tls_credentials.h"

#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace nfr {

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required (PEM file)"));
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": cannot read ", path, "; check the path and its permissions"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MutualTlsServerCredentials(
    const nfr::v1::TlsConfig& tls, absl::string_view field) {
  absl::StatusOr<std::string> cert =
      ReadPemFile(tls.cert_file(), absl::StrCat(field, ".cert_file"));
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(tls.key_file(), absl::StrCat(field, ".key_file"));
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca =
      ReadPemFile(tls.client_ca_file(), absl::StrCat(field, ".client_ca_file"));
  if (!ca.ok()) return ca.status();
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = *ca;
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(opts);
}

}  // namespace nfr
