//! The deployment files doorman ships, checked with the tools an operator
//! would use, offline: hadolint on every Dockerfile and shellcheck on every
//! script under `docker/`; `docker-compose config` (the Compose v1
//! validator) on the compose file with each override and profile; `kubectl
//! kustomize` (Debian's kubectl 1.20 and its old kustomize) and
//! `kubernetes-validate --strict` on every kustomization; `doorman check` on
//! the configurations inside the rendered ConfigMaps; the promises of the
//! shapes (internal networks, probes, grace periods, budgets, autoscalers,
//! policies, and who trusts whom); and the compose topology, with Postfix
//! and with Exim, and the iptables REDIRECT of a plain host, run for real as
//! loopback processes. A missing tool is a failure naming
//! `tests/support/install-deps.sh`, never a skipped test.

mod support;

#[path = "deployment/compose.rs"]
mod compose;
#[path = "deployment/exim.rs"]
mod exim;
#[path = "deployment/files.rs"]
mod files;
#[path = "deployment/identity.rs"]
mod identity;
#[path = "deployment/kubernetes.rs"]
mod kubernetes;
#[path = "deployment/redirect.rs"]
mod redirect;
#[path = "deployment/tools.rs"]
mod tools;
#[path = "deployment/topology.rs"]
mod topology;
