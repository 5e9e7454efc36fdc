package state

import (
	"fmt"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/types"
)

// overlay buffers one block's writes over a View; reads see the block's own
// earlier writes. It is used by a single goroutine.
type overlay struct {
	v       View
	pending map[string]Write
	seen    map[types.Hash]bool  // txs of this block so far
	ids     map[string]*Identity // decoded identities; a put to the key drops the entry
	data    []byte               // the current tx's result data (contract decisions); apply takes it
	// signers, when set (admission with an Admission), holds signer
	// identities decoded from the View by earlier checks of the same run.
	signers map[string]*Identity
	// pseudonymOf, when set (admission with Admission.Pseudonyms), maps a
	// patient id to the pseudonym the chain records the patient under.
	// Block execution never has it: it only ever sees redacted txs.
	pseudonymOf PatientResolver
}

func newOverlay(v View) *overlay {
	return &overlay{v: v, pending: make(map[string]Write), seen: make(map[types.Hash]bool), ids: make(map[string]*Identity)}
}

func (o *overlay) get(key []byte) ([]byte, bool, error) {
	if w, ok := o.pending[string(key)]; ok {
		return w.Value, !w.Delete, nil
	}
	v, found, err := o.v.Get(key)
	if err != nil {
		return nil, false, fmt.Errorf("%w: key %q: %v", ErrIO, key, err)
	}
	return v, found, nil
}

func (o *overlay) put(key, value []byte) {
	o.pending[string(key)] = Write{Key: key, Value: value}
	if len(key) > 0 && key[0] == prefixIdentity {
		delete(o.ids, string(key[1:]))
	}
}

// del deletes key (a delete of an absent key is harmless).
func (o *overlay) del(key []byte) { o.pending[string(key)] = Write{Key: key, Delete: true} }

func (o *overlay) hasTx(h types.Hash) (bool, error) {
	if o.seen[h] {
		return true, nil
	}
	ok, err := o.v.HasTx(h)
	if err != nil {
		return false, fmt.Errorf("%w: tx index: %v", ErrIO, err)
	}
	return ok, nil
}

// writes returns the pending writes sorted by key.
func (o *overlay) writes() []Write {
	ws := make([]Write, 0, len(o.pending))
	for _, w := range o.pending {
		ws = append(ws, w)
	}
	SortWrites(ws)
	return ws
}

// decode reads and decodes key into v; a stored value that does not decode
// is corruption, reported as an I/O failure so the node fails closed.
func decode[T any](o *overlay, key []byte) (*T, error) {
	b, found, err := o.get(key)
	if err != nil || !found {
		return nil, err
	}
	var v T
	if err := codec.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: corrupt value at %q: %v", ErrIO, key, err)
	}
	return &v, nil
}

// identity returns the decoded identity id, or nil. Callers that change the
// returned record must put it back, which drops the cached copy.
func (o *overlay) identity(id string) (*Identity, error) {
	if v, ok := o.ids[id]; ok {
		return v, nil
	}
	v, err := decode[Identity](o, IdentityKey(id))
	if err == nil && v != nil {
		o.ids[id] = v
	}
	return v, err
}

// signer returns the identity that signs a tx. With an admission cache it
// reuses an identity an earlier check of the run decoded from the View, and
// keeps one it decodes now; an identity this overlay wrote is never shared.
func (o *overlay) signer(id string) (*Identity, error) {
	if o.signers == nil {
		return o.identity(id)
	}
	_, local := o.pending[string(IdentityKey(id))]
	if !local {
		if v, ok := o.signers[id]; ok {
			return v, nil
		}
	}
	v, err := o.identity(id)
	if err == nil && v != nil && !local {
		o.signers[id] = v
	}
	return v, err
}

func (o *overlay) consent(patient, typ string) (*Consent, error) {
	return decode[Consent](o, ConsentKey(patient, typ))
}
