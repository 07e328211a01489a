#!/usr/bin/env bash
# Tries the README's two commands the way a newcomer meets them: on a bare Debian 12 with nothing
# but Node.js, as root. Each command gets a fresh root file system (debootstrap, minbase) holding
# a clean clone of this repository's HEAD and this machine's Node.js, in a network namespace of its
# own: nothing of this machine's answers on its 127.0.0.1, and apt and npm reach the internet
# through NAT. A PID namespace ends every process the command started (the Postgres and Redis
# that scripts/services.sh brings up inside) when the command ends.
#
#   sudo bash scripts/bare-machine.sh            # both: `npm ci && npm test`, `npm ci && npm run dev`
#   sudo bash scripts/bare-machine.sh dev        # one of them
#
# Needs root on Debian or Ubuntu (it installs debootstrap and iptables when missing). The base
# system is cached in $BARE_CACHE (default /var/tmp/order-service-bare); each run copies it. Logs
# go to $BARE_CACHE/<command>.log. Exit code 0 only when every command asked for succeeded.
set -euo pipefail

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
cache=${BARE_CACHE:-/var/tmp/order-service-bare}
suite=${BARE_SUITE:-bookworm}
mirror=${BARE_MIRROR:-http://deb.debian.org/debian}
commands=("$@")
((${#commands[@]})) || commands=(test dev)

say() { printf 'bare-machine: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { say "run as root: sudo bash scripts/bare-machine.sh" >&2; exit 1; }
for c in "${commands[@]}"; do
  case $c in test | dev) ;; *) say "unknown command '$c' (test or dev)" >&2; exit 1 ;; esac
done
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v iptables >/dev/null || missing+=(iptables)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

base=$cache/base
if [ ! -e "$base/.complete" ]; then
  say "debootstrap $suite into $base (once; a few minutes)"
  rm -rf "$base" && mkdir -p "$base"
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { say "debootstrap failed; see $cache/debootstrap.log" >&2; exit 1; }
  touch "$base/.complete"
fi

# The namespace's address pair and NAT rule are this script's own, removed on exit.
ns=order-service-bare-$$
net=10.213.$((RANDOM % 250)).
cleanup() {
  iptables -t nat -D POSTROUTING -s "${net}0/24" -j MASQUERADE 2>/dev/null || true
  iptables -D FORWARD -s "${net}0/24" -j ACCEPT 2>/dev/null || true
  iptables -D FORWARD -d "${net}0/24" -j ACCEPT 2>/dev/null || true
  ip link del "vh$$" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if [ -n "${root:-}" ]; then rm -rf "$root"; fi
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "vh$$" type veth peer name "vc$$"
ip link set "vc$$" netns "$ns"
ip addr add "${net}1/24" dev "vh$$" && ip link set "vh$$" up
ip netns exec "$ns" ip addr add "${net}2/24" dev "vc$$"
ip netns exec "$ns" ip link set "vc$$" up
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip route add default via "${net}1"
sysctl -qw net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s "${net}0/24" -j MASQUERADE
iptables -A FORWARD -s "${net}0/24" -j ACCEPT
iptables -A FORWARD -d "${net}0/24" -j ACCEPT

# What the command runs inside the fresh root. `dev` waits for readiness, then follows one order
# to `shipped` with the README's own curl body, then stops the way Ctrl-C does.
inner_test='npm ci --no-audit --no-fund && npm test'
inner_dev=$(
  cat <<'EOF'
npm ci --no-audit --no-fund || exit 1
# Its own process group, so the SIGINT below reaches every process in it, as Ctrl-C does.
setsid npm run dev & dev=$!
node --input-type=module -e '
const base = "http://127.0.0.1:8000";
const until = async (what, check, ms) => {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await check(); if (v) return v; } catch {}
    if (Date.now() > end) { console.error(`bare-machine: ${what} within ${ms} ms: no`); process.exit(1); }
    await new Promise((r) => setTimeout(r, 500));
  }
};
await until("ready", async () => (await fetch(`${base}/health/ready`)).ok, 600_000);
const res = await fetch(`${base}/api/v1/orders`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ item_id: "0b7f5c2e-3c4f-4a57-9a8e-1f2d3c4b5a61", quantity: 2,
    user_id: "demo-user", idempotency_key: crypto.randomUUID() }),
});
const order = (await res.json()).data;
console.log(`bare-machine: POST /api/v1/orders -> ${res.status} ${order.status}`);
if (res.status !== 201) process.exit(1);
const shipped = await until("shipped", async () => {
  const o = (await (await fetch(`${base}/api/v1/orders/${order.id}`)).json()).data;
  return o.status === "shipped" && o;
}, 60_000);
console.log(`bare-machine: order ${shipped.id} is ${shipped.status}`);
'
ok=$?
kill -INT -- "-$dev" && wait "$dev"
echo "bare-machine: npm run dev exited with $? after SIGINT"
exit $ok
EOF
)

status=0
for c in "${commands[@]}"; do
  root=$cache/run-$c-$$
  log=$cache/$c.log
  say "$c: fresh root $root"
  cp -a "$base" "$root"
  git clone -q "$repo" "$root/root/order-service"
  # This machine's Node.js and npm, nothing else.
  node_bin=$(command -v node)
  npm_dir=$(npm root -g)/npm
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
  cp "$node_bin" "$root/usr/local/bin/node"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # A network whose HTTPS passes through an inspecting proxy needs its CA on every machine; the
  # one this machine gives Node.js (NODE_EXTRA_CA_CERTS) goes in too, and nothing else.
  extra_ca=
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    cp "$NODE_EXTRA_CA_CERTS" "$root/root/extra-ca.pem"
    extra_ca=NODE_EXTRA_CA_CERTS=/root/extra-ca.pem
  fi
  if [ "$c" = test ]; then inner=$inner_test; else inner=$inner_dev; fi
  say "$c: running (log: $log)"
  started=$(date +%s)
  rc=0
  ip netns exec "$ns" unshare --mount --propagation private --pid --fork bash -c '
    root=$1 inner=$2
    mount -t proc proc "$root/proc"
    mount -t sysfs sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
    exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      LANG=C.UTF-8 $3 bash -c "cd /root/order-service && $inner"
  ' _ "$root" "$inner" "$extra_ca" >"$log" 2>&1 || rc=$?
  say "$c: exit $rc after $(($(date +%s) - started)) s; last lines:"
  tail -n 8 "$log" | sed 's/\x1b\[[0-9;]*m//g; s/^/  /'
  ((rc == 0)) || status=1
  rm -rf "$root"
  root=
done
exit $status
