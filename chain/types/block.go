package types

import (
	"crypto"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/medchain/medchain/chain/codec"
	mcrypto "github.com/medchain/medchain/chain/crypto"
)

// Header commits to a block's contents, the state after it and the global log.
type Header struct {
	ChainID     string `cbor:"1,keyasint" json:"chain_id"`
	Height      uint64 `cbor:"2,keyasint" json:"height"`
	Time        int64  `cbor:"3,keyasint" json:"time"` // Unix ms, stamped by the proposer, monotonic
	PrevHash    Hash   `cbor:"4,keyasint" json:"prev_hash"`
	TxRoot      Hash   `cbor:"5,keyasint" json:"tx_root"`      // RFC 6962 root over this block's tx hashes
	ResultsHash Hash   `cbor:"6,keyasint" json:"results_hash"` // SHA-256 of CBOR(results)
	StateHash   Hash   `cbor:"7,keyasint" json:"state_hash"`   // see chain/state
	LogSize     uint64 `cbor:"8,keyasint" json:"log_size"`     // txs in the global log after this block
	LogRoot     Hash   `cbor:"9,keyasint" json:"log_root"`     // RFC 6962 root of the global log at LogSize
	Proposer    string `cbor:"10,keyasint" json:"proposer"`    // node identity that signed the header
}

const headerDomain = "medchain/header/v1\x00"

// SignBytes returns the canonical bytes the proposer signs.
func (h *Header) SignBytes() []byte {
	return append([]byte(headerDomain), codec.MustMarshal(h)...)
}

// Hash returns the block hash: SHA-256 of the header's sign bytes.
func (h *Header) Hash() Hash { return HashBytes(h.SignBytes()) }

// BlockTime returns Time as a time.Time in UTC.
func (h *Header) BlockTime() time.Time { return time.UnixMilli(h.Time).UTC() }

// ResultCode says what became of a tx in a block.
type ResultCode uint8

// Result codes. Values are wire format: append only.
const (
	CodeOK             ResultCode = 1 + iota // applied
	CodeUnknownSigner                        // the signer is not a registered identity
	CodeRevokedSigner                        // the signer's identity is revoked
	CodeUnauthorized                         // the signer's roles do not permit this tx
	CodeBadSignature                         // the signature does not verify against the signer's key
	CodeReplay                               // this tx hash is already in the chain
	CodeStaleTimestamp                       // the tx timestamp is outside the window around block time
	CodeInvalidPayload                       // the payload fails validation
	CodeNotFound                             // the tx refers to something that does not exist
	CodeConflict                             // the tx conflicts with state (e.g. the identity exists)
	CodeWrongChain                           // the tx names another chain
)

var resultNames = map[ResultCode]string{
	CodeOK: "ok", CodeUnknownSigner: "unknown_signer", CodeRevokedSigner: "revoked_signer",
	CodeUnauthorized: "unauthorized", CodeBadSignature: "bad_signature", CodeReplay: "replay",
	CodeStaleTimestamp: "stale_timestamp", CodeInvalidPayload: "invalid_payload",
	CodeNotFound: "not_found", CodeConflict: "conflict", CodeWrongChain: "wrong_chain",
}

// String returns the snake_case name.
func (c ResultCode) String() string {
	if s, ok := resultNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ResultCode(%d)", uint8(c))
}

// MarshalText encodes the code by name.
func (c ResultCode) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes a name from String.
func (c *ResultCode) UnmarshalText(b []byte) error {
	for k, v := range resultNames {
		if v == string(b) {
			*c = k
			return nil
		}
	}
	return fmt.Errorf("%w: result code %q", ErrInvalid, b)
}

// Result is the outcome of one tx in a block. Rejected txs are recorded with
// their reason, never silently dropped.
type Result struct {
	Code   ResultCode `cbor:"1,keyasint" json:"code"`
	Reason string     `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
	Data   []byte     `cbor:"3,keyasint,omitempty" json:"data,omitempty"` // type-specific output
}

// OK reports whether the tx was applied.
func (r Result) OK() bool { return r.Code == CodeOK }

// Block is a signed header plus the txs it orders and their results.
type Block struct {
	Header    Header            `cbor:"1,keyasint" json:"header"`
	Signature mcrypto.Signature `cbor:"2,keyasint" json:"signature"`
	Txs       []*Tx             `cbor:"3,keyasint" json:"txs"`
	Results   []Result          `cbor:"4,keyasint" json:"results"`
}

// Hash returns the block hash (the header hash).
func (b *Block) Hash() Hash { return b.Header.Hash() }

// Encode returns the canonical CBOR encoding.
func (b *Block) Encode() []byte { return codec.MustMarshal(b) }

// DecodeBlock decodes a block strictly.
func DecodeBlock(raw []byte) (*Block, error) {
	var b Block
	if err := codec.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	if len(b.Txs) != len(b.Results) {
		return nil, fmt.Errorf("%w: block has %d txs but %d results", ErrInvalid, len(b.Txs), len(b.Results))
	}
	for i, tx := range b.Txs {
		if tx == nil {
			return nil, fmt.Errorf("%w: block tx %d is null", ErrInvalid, i)
		}
	}
	return &b, nil
}

// Sign signs the header with key.
func (b *Block) Sign(key *mcrypto.PrivateKey) error {
	sig, err := key.Sign(b.Header.SignBytes())
	if err != nil {
		return err
	}
	b.Signature = sig
	return nil
}

// TxHashes returns the hashes of b's txs in order.
func (b *Block) TxHashes() []Hash {
	hs := make([]Hash, len(b.Txs))
	for i, tx := range b.Txs {
		hs[i] = tx.Hash()
	}
	return hs
}

// ResultsHash returns SHA-256 of the canonical encoding of results.
func ResultsHash(results []Result) Hash {
	if results == nil {
		results = []Result{}
	}
	return HashBytes(codec.MustMarshal(results))
}

// LogHasher is the RFC 6962 SHA-256 hasher used for the tx root and the
// global log. A log leaf is a tx hash.
var LogHasher = rfc6962.New(crypto.SHA256)

// MerkleRoot returns the RFC 6962 root over leaves (tx hashes).
func MerkleRoot(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return Hash(LogHasher.EmptyRoot())
	}
	f := compact.RangeFactory{Hash: LogHasher.HashChildren}
	r := f.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(LogHasher.HashLeaf(l[:]), nil); err != nil {
			panic(err) // appending to a range we own cannot fail
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	return Hash(root)
}
