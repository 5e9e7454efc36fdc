package fhirtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaSHA256 is the SHA-256 of the pinned fhir.schema.json (R4).
const SchemaSHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"

var (
	once   sync.Once
	schema *jsonschema.Schema
	defs   map[string]*jsonschema.Schema
	err    error
	absent bool
)

func schemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "fhir.r4.schema.json")
}

func load() {
	raw, rerr := os.ReadFile(schemaPath())
	if os.IsNotExist(rerr) {
		absent = true
		return
	}
	if rerr != nil {
		err = rerr
		return
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != SchemaSHA256 {
		err = fmt.Errorf("fhirtest: %s has SHA-256 %s, want %s; delete it and run sh node/fhir/testdata/fetch-schema.sh", schemaPath(), got, SchemaSHA256)
		return
	}
	doc, derr := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if derr != nil {
		err = derr
		return
	}
	c := jsonschema.NewCompiler()
	if err = c.AddResource("fhir.schema.json", doc); err != nil {
		return
	}
	if schema, err = c.Compile("fhir.schema.json"); err != nil {
		return
	}
	defs = map[string]*jsonschema.Schema{}
	for _, rt := range []string{"AuditEvent", "Consent", "Bundle", "CapabilityStatement", "OperationOutcome"} {
		if defs[rt], err = c.Compile("fhir.schema.json#/definitions/" + rt); err != nil {
			return
		}
	}
}

// Validate fails t if b is not a valid FHIR R4 resource. If the schema has
// not been fetched it only logs, so the caller's other checks still run. A CapabilityStatement's fhirVersion 4.0.1 is
// checked as 4.0.0, the R4 build whose schema is pinned (see package fhir's
// schema test, which proves that is the only difference).
func Validate(t testing.TB, b []byte) {
	t.Helper()
	once.Do(load)
	if absent {
		t.Logf("FHIR R4 schema absent, resource not validated: run `sh node/fhir/testdata/fetch-schema.sh` (needs npm)")
		return
	}
	if err != nil {
		t.Fatalf("FHIR R4 schema: %v", err)
	}
	var m map[string]any
	if jerr := json.Unmarshal(b, &m); jerr != nil {
		t.Fatalf("not a JSON object: %v\n%s", jerr, b)
	}
	if m["resourceType"] == "CapabilityStatement" && m["fhirVersion"] == "4.0.1" {
		m["fhirVersion"] = "4.0.0"
		b, _ = json.Marshal(m)
	}
	inst, uerr := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if uerr != nil {
		t.Fatal(uerr)
	}
	rt, _ := m["resourceType"].(string)
	if d := defs[rt]; d != nil {
		if verr := d.Validate(inst); verr != nil {
			t.Fatalf("not valid FHIR R4 %s:\n%v\n%s", rt, verr, b)
		}
	}
	if verr := schema.Validate(inst); verr != nil {
		t.Fatalf("not valid FHIR R4:\n%v\n%s", verr, b)
	}
}
