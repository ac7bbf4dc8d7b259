# shellcheck shell=bash
# Azurite for tests and the demo: installs azurite@3.35.0 (the newest that
# runs on Node 20) into .cache/azurite, starts it on free loopback ports with
# in-memory storage and exports XELWATCH_TEST_STORAGE (and AZURITE_* ports).
#
#   source .ci/azurite.sh && azurite_start    # then: azurite_stop
#
# azurite_stop / azurite_start can be called again to simulate an outage
# (the e2e tests do that themselves through the exported AZURITE_BIN).

AZURITE_VERSION=3.35.0
_xw_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AZURITE_DIR="${XELWATCH_CACHE:-$_xw_root/.cache}/azurite"

azurite_install() {
	command -v node >/dev/null || { echo "azurite: node is required (Node 20+)" >&2; return 1; }
	command -v npm >/dev/null || { echo "azurite: npm is required" >&2; return 1; }
	if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite" ]; then
		echo "azurite: installing azurite@$AZURITE_VERSION into $AZURITE_DIR" >&2
		mkdir -p "$AZURITE_DIR"
		(cd "$AZURITE_DIR" && npm install --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null) || return 1
	fi
	export AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite"
}

_xw_free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

azurite_start() {
	azurite_install || return 1
	AZURITE_BLOB_PORT=${AZURITE_BLOB_PORT:-$(_xw_free_port)}
	AZURITE_QUEUE_PORT=${AZURITE_QUEUE_PORT:-$(_xw_free_port)}
	AZURITE_TABLE_PORT=${AZURITE_TABLE_PORT:-$(_xw_free_port)}
	export AZURITE_BLOB_PORT AZURITE_QUEUE_PORT AZURITE_TABLE_PORT
	local log="$AZURITE_DIR/azurite.log"
	"$AZURITE_BIN" --silent --disableTelemetry --skipApiVersionCheck --inMemoryPersistence \
		--blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
		--blobPort "$AZURITE_BLOB_PORT" --queuePort "$AZURITE_QUEUE_PORT" --tablePort "$AZURITE_TABLE_PORT" \
		>"$log" 2>&1 &
	AZURITE_PID=$!
	export AZURITE_PID
	local i
	for i in $(seq 1 150); do
		if node -e 'const n=require("net");let ok=0;for(const p of process.argv.slice(1)){const c=n.connect(+p,"127.0.0.1",()=>{c.end();if(++ok==3)process.exit(0)});c.on("error",()=>process.exit(1))}' \
			"$AZURITE_BLOB_PORT" "$AZURITE_QUEUE_PORT" "$AZURITE_TABLE_PORT" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$AZURITE_PID" 2>/dev/null; then
			echo "azurite: failed to start:" >&2; cat "$log" >&2; return 1
		fi
		sleep 0.2
	done
	local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	export XELWATCH_TEST_STORAGE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$AZURITE_BLOB_PORT/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$AZURITE_QUEUE_PORT/devstoreaccount1;TableEndpoint=http://127.0.0.1:$AZURITE_TABLE_PORT/devstoreaccount1;"
	echo "azurite: pid $AZURITE_PID, blob $AZURITE_BLOB_PORT, queue $AZURITE_QUEUE_PORT, table $AZURITE_TABLE_PORT" >&2
}

azurite_stop() {
	if [ -n "${AZURITE_PID:-}" ]; then
		kill "$AZURITE_PID" 2>/dev/null
		wait "$AZURITE_PID" 2>/dev/null
		unset AZURITE_PID
	fi
}
