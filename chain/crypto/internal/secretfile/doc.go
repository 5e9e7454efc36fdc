// Package secretfile writes and reads files that hold secrets (key seeds):
// mode 0600 in directories created 0700, never overwriting, synced to disk,
// and refused on read when group or others may read them, as ssh refuses
// private keys.
package secretfile
