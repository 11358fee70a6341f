#!/usr/bin/env bash
# Runs one detector enclave for the pod: the KMS vsock-proxy, the enclave, and a TCP bridge to its vsock port.
# Settings come from the pod's environment (deploy/kubernetes/detector-daemonset.yaml). On SIGTERM the enclave is
# terminated, so a stopped pod never leaves an enclave holding the node's memory and CPUs.
set -euo pipefail

: "${ENCLAVE_IMAGE:?}" "${ENCLAVE_MEMORY_MIB:?}" "${ENCLAVE_CPU_COUNT:?}" "${ENCLAVE_PORT:?}" "${KMS_PROXY_PORT:?}" "${AWS_REGION:?}"
kms_host="kms.${AWS_REGION}.amazonaws.com"

# vsock-proxy forwards only to allow-listed remotes: exactly this region's KMS.
printf 'allowlist:\n- {address: %s, port: 443}\n' "$kms_host" > /tmp/vsock-proxy.yaml
vsock-proxy "$KMS_PROXY_PORT" "$kms_host" 443 --config /tmp/vsock-proxy.yaml &

enclave=$(nitro-cli run-enclave --eif-path "$ENCLAVE_IMAGE" --memory "$ENCLAVE_MEMORY_MIB" --cpu-count "$ENCLAVE_CPU_COUNT")
enclave_id=$(jq -r .EnclaveID <<<"$enclave")
enclave_cid=$(jq -r .EnclaveCID <<<"$enclave")
trap 'nitro-cli terminate-enclave --enclave-id "$enclave_id" >/dev/null; kill $(jobs -p) 2>/dev/null; exit 0' TERM INT

socat "TCP-LISTEN:${ENCLAVE_PORT},fork,reuseaddr" "VSOCK-CONNECT:${enclave_cid}:${ENCLAVE_PORT}" &
wait -n
echo "a helper process of the detector pod ended; stopping the enclave" >&2
nitro-cli terminate-enclave --enclave-id "$enclave_id" >/dev/null
exit 1
