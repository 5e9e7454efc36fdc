package consensus

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/codec"
	"github.com/medchain/medchain/chain/crypto/seal"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
)

func testDataKey(t testing.TB) *seal.DataKey {
	t.Helper()
	k, err := seal.NewDataKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestFlight(err error, resolved bool) *flight {
	fl := &flight{done: make(chan struct{}), err: err}
	if resolved {
		close(fl.done)
	}
	return fl
}

// TestPatientCacheServesOnlyWhatItKnows is patientCache invariant 1, case by
// case: an entry is served while its key is committed or carried by a block
// the cut builds on, and dropped (its key destroyed) once that block failed
// or when the cut does not build on it.
func TestPatientCacheServesOnlyWhatItKnows(t *testing.T) {
	committed, failed := newTestFlight(nil, true), newTestFlight(errors.New("leadership lost"), true)
	inRaft, orphan := newTestFlight(nil, false), newTestFlight(nil, false)
	for name, tc := range map[string]struct {
		owner    *flight
		inflight []*flight
		served   bool
	}{
		"read from the vault":                 {owner: nil, served: true},
		"its block committed":                 {owner: committed, served: true},
		"its block is in flight, built on":    {owner: inRaft, inflight: []*flight{inRaft}, served: true},
		"its block failed":                    {owner: failed, inflight: []*flight{inRaft}, served: false},
		"its block never reached Raft":        {owner: orphan, inflight: []*flight{inRaft}, served: false},
		"its block is in flight, not beneath": {owner: inRaft, inflight: nil, served: false},
	} {
		t.Run(name, func(t *testing.T) {
			var c patientCache
			mac := [32]byte{1}
			m := &mapping{pseudonym: "ps:x", key: testDataKey(t)}
			c.begin("", tc.inflight)
			c.put(mac, m, tc.owner)
			c.end(map[[32]byte]*mapping{mac: m})
			c.begin("", tc.inflight)
			got := c.get(mac, tc.inflight)
			c.end(map[[32]byte]*mapping{})
			if (got != nil) != tc.served {
				t.Fatalf("served %v, want %v", got != nil, tc.served)
			}
			if !tc.served && (!m.key.Destroyed() || c.holds(mac)) {
				t.Fatalf("a dropped entry's key is not destroyed (%v) or still held (%v)", m.key.Destroyed(), c.holds(mac))
			}
			if tc.served && m.key.Destroyed() {
				t.Fatal("a served key was destroyed")
			}
		})
	}
}

// TestPatientCacheDestroysDroppedKeysAfterTheCut is invariant 3: a key that
// a block cut holds survives a drop until the cut ends, then is destroyed;
// keys the cut resolved but the cache did not keep are destroyed too.
func TestPatientCacheDestroysDroppedKeysAfterTheCut(t *testing.T) {
	var c patientCache
	held := &mapping{pseudonym: "ps:held", key: testDataKey(t)}
	idle := &mapping{pseudonym: "ps:idle", key: testDataKey(t)}
	c.begin("", nil)
	c.put([32]byte{1}, held, nil)
	c.put([32]byte{2}, idle, nil)
	c.end(map[[32]byte]*mapping{{1}: held, {2}: idle})

	c.begin("", nil)
	if c.get([32]byte{1}, nil) != held {
		t.Fatal("miss")
	}
	c.dropAll() // e.g. an erasure applied while the cut runs
	if held.key.Destroyed() || !idle.key.Destroyed() {
		t.Fatalf("during the cut: held key destroyed %v (want false), idle key destroyed %v (want true)", held.key.Destroyed(), idle.key.Destroyed())
	}
	if _, err := held.key.Seal([]byte("payload"), nil); err != nil {
		t.Fatalf("the cut can no longer seal with a key it holds: %v", err)
	}
	doomedKey := &mapping{pseudonym: "ps:doomed", key: testDataKey(t)}
	erasing := newTestFlight(nil, false)
	c.doom([32]byte{3}, erasing)
	c.put([32]byte{3}, doomedKey, nil) // a doomed patient resolved in the same cut
	c.end(map[[32]byte]*mapping{{1}: held, {3}: doomedKey})
	if !held.key.Destroyed() || !doomedKey.key.Destroyed() || c.len() != 0 {
		t.Fatalf("after the cut: held key destroyed %v, doomed key destroyed %v, %d cached; want true, true, 0", held.key.Destroyed(), doomedKey.key.Destroyed(), c.len())
	}
}

// TestPatientCacheDoomLastsUntilTheErasureResolves is invariant 2 at the
// cut: an erased patient is dropped and not cached again while its erasure
// is in flight, and may be again once that block resolved.
func TestPatientCacheDoomLastsUntilTheErasureResolves(t *testing.T) {
	var c patientCache
	mac := [32]byte{7}
	m := &mapping{pseudonym: "ps:p", key: testDataKey(t)}
	c.begin("", nil)
	c.put(mac, m, nil)
	erasure := newTestFlight(nil, false)
	c.doom(mac, erasure)
	c.end(map[[32]byte]*mapping{mac: m})
	if c.holds(mac) || !m.key.Destroyed() {
		t.Fatal("a patient whose erasure was cut is still cached")
	}
	again := &mapping{pseudonym: "ps:p", key: testDataKey(t)}
	c.begin("", []*flight{erasure}) // the erasure is in flight beneath this cut
	c.put(mac, again, nil)
	c.end(map[[32]byte]*mapping{mac: again})
	if c.holds(mac) || !again.key.Destroyed() {
		t.Fatal("a doomed patient was cached while its erasure is in flight")
	}
	erasure.err = errors.New("not committed")
	close(erasure.done)
	third := &mapping{pseudonym: "ps:p", key: testDataKey(t)}
	c.begin("", nil)
	c.put(mac, third, nil)
	c.end(map[[32]byte]*mapping{mac: third})
	if !c.holds(mac) {
		t.Fatal("the patient stays uncacheable after the erasure's block failed")
	}
}

func TestPatientCacheBoundAndKeyChange(t *testing.T) {
	var c patientCache
	first := &mapping{pseudonym: "ps:first", key: testDataKey(t)}
	c.begin("key-1", nil)
	c.put([32]byte{0xff}, first, nil)
	c.end(map[[32]byte]*mapping{{0xff}: first})
	var last *mapping
	for i := range PatientCacheSize {
		last = &mapping{pseudonym: "ps", key: first.key}
		if i == PatientCacheSize-1 {
			last.key = testDataKey(t)
		}
		c.begin("key-1", nil)
		mac := [32]byte{byte(i), byte(i >> 8), 1}
		c.put(mac, last, nil)
		c.end(map[[32]byte]*mapping{mac: last})
	}
	if n := c.len(); n != PatientCacheSize {
		t.Fatalf("%d cached, bound %d", n, PatientCacheSize)
	}
	if c.holds([32]byte{0xff}) || !first.key.Destroyed() {
		t.Fatal("the least recently used patient was not evicted and destroyed")
	}
	c.begin("key-2", nil) // the cluster key changed
	c.end(nil)
	if c.len() != 0 || !last.key.Destroyed() {
		t.Fatalf("a cluster key change left %d patients cached", c.len())
	}
}

// TestRedactWithTheCacheEqualsRedactWithout is invariant 1 as a property:
// over random sequences of block cuts (new and known patients, erasure
// requests, up to two blocks in flight) whose blocks commit or fail at
// random, the leader with the cache builds exactly the blocks (pseudonyms,
// patient keys, refusals) a leader without it builds, drawing the same
// randomness. Erasures here never commit (their blocks fail): committed
// erasures are covered by the cluster tests.
func TestRedactWithTheCacheEqualsRedactWithout(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { redactEquivalence(t, seed) })
	}
}

type redactSide struct {
	p       *pseudonymizer
	st      *store.Store
	flights []*flight // unresolved, oldest first
	noCache bool
}

func redactEquivalence(t *testing.T, seed uint64) {
	ck := testClusterKey(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	sides := make([]*redactSide, 2)
	for i := range sides {
		st, err := store.Open("db", store.TestOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sides[i] = &redactSide{p: &pseudonymizer{key: ck, rand: rand.NewChaCha8([32]byte{byte(seed)})}, st: st, noCache: i == 1}
	}
	index := uint64(10)
	for step := range 60 {
		if len(sides[0].flights) == 2 || (len(sides[0].flights) > 0 && rng.IntN(3) == 0) {
			commit := rng.IntN(4) != 0
			for _, s := range sides {
				fl := s.flights[0]
				s.flights = s.flights[1:]
				hasErase := slices.ContainsFunc(fl.block.Txs, func(tx *types.Tx) bool { return tx.Type == types.TxPatientErase })
				if commit && !hasErase {
					ws, _, err := vaultWrites(s.st, fl.block, fl.keys, index)
					if err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					for _, w := range ws {
						if err := s.st.VaultSet(w.Key, w.Value); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					fl.err = errors.New("not committed")
					for _, f := range s.flights { // blocks built on it fail with it
						f.err = fl.err
						close(f.done)
					}
					s.flights = nil
				}
				close(fl.done)
			}
			index++
			continue
		}
		var txs []*types.Tx
		var hashes []types.Hash
		for i := range 1 + rng.IntN(5) {
			patient := fmt.Sprintf("mrn-%d", rng.IntN(6))
			var p types.Payload = &types.AuditRecord{EventType: "data_access", Patient: patient, Actor: "dr", Action: "view", Resource: "Observation/1"}
			if rng.IntN(8) == 0 {
				p = &types.PatientErase{Patient: patient, Reason: "gdpr-art17"}
			}
			tx, err := types.NewTx("c", "dr", p, time.UnixMilli(1), uint64(step*10+i))
			if err != nil {
				t.Fatal(err)
			}
			txs, hashes = append(txs, tx), append(hashes, tx.Hash())
		}
		var got [2]string
		for i, s := range sides {
			if s.noCache {
				s.p.cache.dropAll()
				s.p.cache.doomed = nil
			}
			var inflight []*flight
			if n := len(s.flights); n > 0 {
				inflight = s.flights[n-1].unresolvedChain()
			}
			fl := &flight{done: make(chan struct{}), inflight: inflight}
			out, _, keys, refused, err := s.p.redact(s.st, fl, txs, hashes)
			if err != nil {
				t.Fatalf("step %d side %d: %v", step, i, err)
			}
			fl.keys = keys
			fl.block = &types.Block{Txs: out, Results: make([]types.Result, len(out))}
			s.flights = append(s.flights, fl)
			for _, tx := range out {
				got[i] += types.PatientOf(mustDecode(t, tx)) + " "
			}
			for _, k := range keys {
				got[i] += fmt.Sprintf("key %x %s ", k.MAC[:4], k.Pseudonym)
			}
			for _, h := range hashes {
				if err, ok := refused[h]; ok {
					got[i] += fmt.Sprintf("refused %s: %v ", h.String()[:8], err)
				}
			}
		}
		if got[0] != got[1] {
			t.Fatalf("step %d: with the cache\n  %s\nwithout\n  %s", step, got[0], got[1])
		}
	}
	// What the cache holds is the vault's or the blocks in flight's.
	for mac, el := range sides[0].p.cache.entries {
		e := el.Value.(*cacheEntry)
		b, found, err := sides[0].st.VaultGet(vaultKey(vaultMapping, mac[:]))
		if err != nil {
			t.Fatal(err)
		}
		if found {
			var v vaultEntry
			if err := codec.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if v.Pseudonym != e.m.pseudonym {
				t.Fatalf("cached pseudonym %s, vault %s", e.m.pseudonym, v.Pseudonym)
			}
		} else if e.fl == nil {
			t.Fatalf("a committed cache entry %s is not in the vault", e.m.pseudonym)
		}
	}
}

func mustDecode(t *testing.T, tx *types.Tx) types.Payload {
	t.Helper()
	p, err := tx.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
