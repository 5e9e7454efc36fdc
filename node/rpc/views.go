package rpc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/chain/types"
)

// TxView is a tx as JSON: envelope fields, the decoded payload and the
// signature's algorithm (its 2-4 KB of bytes are left out; tx_get can return
// the raw encoding).
type TxView struct {
	Hash      types.Hash   `json:"hash"`
	ChainID   string       `json:"chain_id"`
	Type      types.TxType `json:"type"`
	Signer    string       `json:"signer"`
	Timestamp int64        `json:"timestamp"`
	Nonce     uint64       `json:"nonce"`
	Algorithm string       `json:"algorithm"`
	Payload   any          `json:"payload"` // the decoded payload of Type
	Raw       []byte       `json:"raw,omitempty"`
	// Redacted is set when Payload is the redacted form stored on chain (a
	// pseudonym, no personal field) because the patient is erased; while the
	// patient's key exists the node shows the signed payload.
	Redacted bool `json:"redacted,omitempty"`
	// Pruned is set (with Redacted) when this node pruned the tx's sealed
	// payload under its retention policy: the clear fields of the redacted
	// payload are all that is left; the personal fields are gone from the
	// node. The tx still verifies (its tx root commits to the payload's hash).
	Pruned bool `json:"pruned,omitempty"`
}

// txView renders tx; a redacted tx shows its signed payload when l can open
// it (pseudonym.go). Raw is always the stored encoding.
func txView(l Ledger, tx *types.Tx, raw bool) TxView {
	v := TxView{Hash: tx.Hash(), ChainID: tx.ChainID, Type: tx.Type, Signer: tx.Signer, Timestamp: tx.Timestamp,
		Nonce: tx.Nonce, Algorithm: tx.Signature.Algorithm.String()}
	shown := tx
	if tx.Redaction != nil && tx.Redaction.Pruned() {
		v.Redacted, v.Pruned = true, true
	} else if tx.Redaction != nil {
		if orig, err := signedTx(l, tx); err == nil {
			shown = orig
		} else {
			v.Redacted = true
		}
	}
	if p, err := shown.DecodePayload(); err == nil {
		v.Payload = p
	}
	if raw {
		v.Raw = tx.Encode()
	}
	return v
}

// BlockView is a block as JSON.
type BlockView struct {
	Hash      types.Hash     `json:"hash"`
	Header    types.Header   `json:"header"`
	Signature SignatureView  `json:"signature"`
	TxCount   int            `json:"tx_count"`
	Txs       []TxView       `json:"txs,omitempty"`
	Results   []types.Result `json:"results,omitempty"`
}

// SignatureView names a signature without its bytes unless asked.
type SignatureView struct {
	Algorithm string `json:"algorithm"`
	Bytes     []byte `json:"bytes,omitempty"`
}

func blockView(l Ledger, b *types.Block, full bool) BlockView {
	v := BlockView{Hash: b.Hash(), Header: b.Header, TxCount: len(b.Txs),
		Signature: SignatureView{Algorithm: b.Signature.Algorithm.String(), Bytes: b.Signature.Sig}}
	if full {
		v.Results = b.Results
		v.Txs = make([]TxView, len(b.Txs))
		for i, tx := range b.Txs {
			v.Txs[i] = txView(l, tx, false)
		}
	}
	return v
}

// strict decodes a params object, refusing keys the method does not take
// (spelt otherwise than the method's, case included), so a misspelt key is
// an error instead of a silently ignored filter.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return paramsJSONError(err)
	}
	if d.More() {
		return fmt.Errorf("trailing data after the params object")
	}
	return exactKeys(b, v)
}

// UnmarshalJSON refuses unknown keys.
func (p *SubmitParams) UnmarshalJSON(b []byte) error {
	type plain SubmitParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys. The common shape (keys "txs" and
// "wait" at most once each, tx strings without escapes) is parsed in one pass
// that base64-decodes each tx straight from the JSON bytes, without an
// intermediate string; anything else takes the general strict decoder, which
// also names the error.
func (p *SubmitBatchParams) UnmarshalJSON(b []byte) error {
	if q, ok := parseSubmitBatch(b); ok {
		*p = q
		return nil
	}
	type plain SubmitBatchParams
	*p = SubmitBatchParams{}
	return strict(b, (*plain)(p))
}

// rawTx is one tx of tx_submitBatch decoded from base64 by the fast path:
// its bytes, or why they are not base64.
type rawTx struct {
	b   []byte
	err error
}

// parseSubmitBatch is the fast path of SubmitBatchParams.UnmarshalJSON. It
// reports false for anything but the plain shape; b is a valid JSON value
// (the RPC server parsed it), and false always falls back to the strict
// decoder, so it never needs to name a syntax error. It keeps no reference
// to b.
func parseSubmitBatch(b []byte) (SubmitBatchParams, bool) {
	var p SubmitBatchParams
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return p, false
	}
	i = skipWS(b, i+1)
	var haveTxs, haveWait bool
	if i < len(b) && b[i] == '}' {
		return p, skipWS(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return p, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return p, false
		}
		i = skipWS(b, i+1)
		switch string(key) {
		case "txs":
			if haveTxs {
				return p, false
			}
			haveTxs = true
			if i >= len(b) || b[i] != '[' {
				return p, false
			}
			i = skipWS(b, i+1)
			p.raw = []rawTx{}
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			for {
				enc, j, ok := plainString(b, i)
				if !ok {
					return p, false
				}
				dst := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
				n, err := base64.StdEncoding.Decode(dst, enc)
				if err != nil {
					p.raw = append(p.raw, rawTx{err: err})
				} else {
					p.raw = append(p.raw, rawTx{b: dst[:n:n]})
				}
				i = skipWS(b, j)
				if i < len(b) && b[i] == ',' {
					i = skipWS(b, i+1)
					continue
				}
				if i < len(b) && b[i] == ']' {
					i++
					break
				}
				return p, false
			}
		case "wait":
			if haveWait {
				return p, false
			}
			haveWait = true
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				p.Wait, i = true, i+4
			case bytes.HasPrefix(b[i:], []byte("false")):
				p.Wait, i = false, i+5
			default:
				return p, false
			}
		default:
			return p, false // unknown key: the strict decoder names it
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return p, skipWS(b, i+1) == len(b)
		}
		return p, false
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString returns the contents of the JSON string at b[i] and the index
// after it, if the string is plain printable ASCII without escapes.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// UnmarshalJSON refuses unknown keys.
func (p *GetParams) UnmarshalJSON(b []byte) error {
	type plain GetParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *TrailParams) UnmarshalJSON(b []byte) error {
	type plain TrailParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ConsentParams) UnmarshalJSON(b []byte) error {
	type plain ConsentParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *VerifyParams) UnmarshalJSON(b []byte) error {
	type plain VerifyParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *BlockParams) UnmarshalJSON(b []byte) error {
	type plain BlockParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ProofParams) UnmarshalJSON(b []byte) error {
	type plain ProofParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ConsistencyParams) UnmarshalJSON(b []byte) error {
	type plain ConsistencyParams
	return strict(b, (*plain)(p))
}

// Time is a time param: RFC 3339 text or Unix milliseconds.
type Time int64

// UnmarshalJSON accepts "2026-11-22T10:00:00Z" or 1763805600000.
func (t *Time) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*t = Time(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("time must be RFC 3339 text or Unix milliseconds")
	}
	v, err := time.Parse(time.RFC3339, str)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339 (e.g. 2026-11-22T10:00:00Z)", str)
	}
	*t = Time(v.UnixMilli())
	return nil
}
