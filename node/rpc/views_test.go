package rpc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestSubmitBatchParamsFastPathMatchesStrict: the one-pass decoder of
// tx_submitBatch params gives the same txs and wait flag as the strict
// decoder, and every shape it does not take (unknown or repeated keys,
// escapes, null, bad base64) still reaches the strict decoder or fails the
// same way.
func TestSubmitBatchParamsFastPathMatchesStrict(t *testing.T) {
	a, b := base64.StdEncoding.EncodeToString([]byte("first tx bytes")), base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})
	fast := []string{
		`{"txs":["` + a + `","` + b + `"],"wait":true}`,
		" {\n\t\"wait\" : false ,\r\n \"txs\" : [ \"" + a + "\" ] } ",
		`{"txs":[]}`,
		`{}`,
		`{"txs":["` + a + `","!!"]}`,
		`{"txs":[""]}`,
	}
	for _, in := range fast {
		if _, ok := parseSubmitBatch([]byte(in)); !ok {
			t.Errorf("fast path refused %q", in)
		}
		var got SubmitBatchParams
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		type plain SubmitBatchParams
		var want plain
		if err := strict([]byte(in), &want); err != nil {
			t.Fatalf("%q: strict: %v", in, err)
		}
		if got.Wait != want.Wait || got.count() != len(want.Txs) {
			t.Fatalf("%q: wait %v count %d, strict gives wait %v count %d", in, got.Wait, got.count(), want.Wait, len(want.Txs))
		}
		for i, enc := range want.Txs {
			w, werr := base64.StdEncoding.DecodeString(enc)
			r := got.raw[i]
			if (werr != nil) != (r.err != nil) || !bytes.Equal(w, r.b) {
				t.Fatalf("%q: tx %d: %x %v, strict gives %x %v", in, i, r.b, r.err, w, werr)
			}
		}
	}
	slow := []string{
		`{"txs":["` + a + `"],"wait":true,"extra":1}`,
		`{"txs":["` + a + `"],"txs":["` + b + `"]}`,
		`{"txs":["` + strings.ReplaceAll(a, "/", `\/`) + `\u0041"]}`,
		`{"txs":null}`,
		`{"wait":null}`,
		`{"t\u0078s":[]}`,
		`[]`,
	}
	for _, in := range slow {
		if _, ok := parseSubmitBatch([]byte(in)); ok {
			t.Errorf("fast path took %q", in)
		}
	}
	var p SubmitBatchParams
	if err := json.Unmarshal([]byte(slow[0]), &p); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := json.Unmarshal([]byte(slow[2]), &p); err != nil || p.raw != nil || len(p.Txs) != 1 {
		t.Fatalf("escaped tx: %v %+v", err, p)
	}
}
