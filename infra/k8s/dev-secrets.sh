#!/usr/bin/env bash
# Creates every secret the manifests read (docs/kubernetes.md, step 4), with
# fresh random passwords and a placeholder Stripe test key, in the namespace
# ticketing — for a throwaway cluster (kind in CI, a first try on minikube).
# A secret that exists already is left as it is, so running it twice is safe.
# With a real Stripe test key, create stripe-secret yourself first; without
# one, enable the stripe-standin component (docs/kubernetes.md).
#
#   infra/k8s/dev-secrets.sh [--tls]   --tls also makes a self-signed
#                                      certificate for ticketing.dev
set -euo pipefail

ns=ticketing
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"

missing() { ! kubectl get secret "$1" --namespace "$ns" >/dev/null 2>&1; }
hex() { openssl rand -hex 32; }

if missing jwt-secret; then
  kubectl create secret generic jwt-secret --namespace ticketing --from-literal=JWT_KEY="$(openssl rand -base64 32)"
fi
if missing stripe-secret; then
  # Nothing signs webhooks for a throwaway cluster: any whsec_ value will do.
  kubectl create secret generic stripe-secret --namespace ticketing --from-literal=STRIPE_KEY=sk_test_stripe_mock_any_key --from-literal=STRIPE_WEBHOOK_SECRET="whsec_$(hex)"
fi
if missing nats-users; then
  kubectl create secret generic nats-users --namespace ticketing --from-literal=auth="$(hex)" --from-literal=tickets="$(hex)" --from-literal=orders="$(hex)" --from-literal=expiration="$(hex)" --from-literal=payments="$(hex)" --from-literal=redrive="$(hex)" --from-literal=stan="$(hex)"
fi
if missing mongo-users; then
  kubectl create secret generic mongo-users --namespace ticketing --from-literal=auth="$(hex)" --from-literal=tickets="$(hex)" --from-literal=orders="$(hex)" --from-literal=payments="$(hex)"
fi
# overlays/prod's replica sets: an admin per set, and the keyfile its members
# authenticate each other with.
keyfile() { openssl rand -base64 756 | tr -d '\n'; }
if missing mongo-admin; then
  kubectl create secret generic mongo-admin --namespace ticketing --from-literal=auth="$(hex)" --from-literal=tickets="$(hex)" --from-literal=orders="$(hex)" --from-literal=payments="$(hex)"
fi
if missing mongo-keyfile; then
  kubectl create secret generic mongo-keyfile --namespace ticketing --from-literal=auth="$(keyfile)" --from-literal=tickets="$(keyfile)" --from-literal=orders="$(keyfile)" --from-literal=payments="$(keyfile)"
fi
if missing expiration-redis; then
  kubectl create secret generic expiration-redis --namespace ticketing --from-literal=password="$(hex)"
fi

if [ "${1:-}" = --tls ] && missing ticketing-dev-tls; then
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' EXIT
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=ticketing.dev \
    -addext subjectAltName=DNS:ticketing.dev -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  kubectl create secret tls ticketing-dev-tls --namespace ticketing --cert="$dir/tls.crt" --key="$dir/tls.key"
fi
