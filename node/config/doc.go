// Package config is the node's configuration: a TOML file in sections,
// overridden by environment variables, validated at start with an error that
// names every bad field.
//
// Precedence, lowest first: DefaultConfig, the TOML file, MEDCHAIN_* variables
// (MEDCHAIN_<SECTION>_<KEY>, e.g. MEDCHAIN_RPC_LISTEN=127.0.0.1:9000), then the
// seed's names BLOCKCHAIN_ENABLED and BLOCKCHAIN_SYNC_INTERVAL.
//
// Example file:
//
//	[node]
//	id = "node-1"
//	data_dir = ".medchain"
//
//	[rpc]
//	listen = "127.0.0.1:8545"
//
//	[consensus]
//	max_block_txs = 2000
//	max_block_delay = "10ms"
package config
