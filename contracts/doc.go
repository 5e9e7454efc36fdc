// Package contracts is medchain's deterministic contract VM: it compiles
// access policies written in CEL (cel.dev/cel-go), estimates their
// worst-case cost, and executes them against a call context and a read-only
// state view, producing (decision, reason, deciding rule, effects, cost).
// It is pure: no storage, network, clock, randomness or environment; the
// chain passes in everything it reads.
//
// Usage:
//
//	vm, _ := contracts.New(contracts.DefaultConfig())
//	c, _ := contracts.FromTemplate("terms", map[string]any{
//		"allowed_actions": []string{"read"}, "authorized_parties": []string{"doctor456"},
//		"allowed_purposes": []string{"treatment"}, "expiration": "2027-12-31T23:59:59"})
//	c.ID, c.Owner, c.Version = "contract123", "patient123", 1
//	prog, err := vm.Compile(c)            // at deploy: ErrCompile / ErrCostEstimate reject it
//	res, err := prog.Execute(view, state, &contracts.Call{Requester: "doctor456", Action: "read",
//		Purpose: "treatment", Patient: "patient123", BlockTime: header.Time, Height: header.Height})
//	// err != nil: bad input (ErrInvalidCall, ErrInvalidValue) or view failure (ErrView, fail closed)
//	// res.Decision, res.Reason, res.Rule, res.Effects, res.Cost; res.Encode() for the chain
//
// # Language
//
// A contract has rules and effects. A rule is {name, effect allow|deny,
// condition}; the condition is a CEL expression of type bool (or dyn,
// checked at run time). Deny rules are evaluated first in declaration
// order, then allow rules in order; the first deny that matches denies
// ("denied by rule NAME"), else the first allow that matches allows
// ("allowed by rule NAME"), else the call is denied with "no rule allowed".
// A rule may carry flags (e.g. "review_required") copied into the result
// when it decides. Effects are {key, expression}: when the call is allowed,
// each expression is evaluated against the state as it was before the call
// and its value becomes the new value of that state key in Result.Effects.
//
// Variables:
//
//	requester        string        identity making the request
//	requester_roles  list(string)  roles presented by the caller (sorted, deduplicated)
//	action, purpose, patient, resource, segment   string (segment empty outside the RPC gate)
//	risk             int           0-100 risk score from the RPC gate (0 outside it)
//	attrs            map(string, string)  free request attributes, e.g. attrs.deidentified
//	block_time       int           block time, Unix ms (the only clock)
//	block_height     int
//	params           map(string, dyn)     the contract's terms
//	state            map(string, dyn)     the contract's own state
//	contract_id, owner  string
//
// Host functions and their fixed costs (CEL cost units, about 50 ns each):
//
//	consent(patient, type)  map   40  keys: exists, granted, active (granted and not expired at
//	                                  block time), purposes, parties, actions, categories (sorted
//	                                  lists), expiration (Unix ms, 0 = none)
//	roles(identity)         list  20  on-chain roles, sorted
//	hour_in(zone)           int   10  hour (0-23) of block time in an IANA zone
//	weekday_in(zone)        int   10  weekday (0 = Sunday) of block time in an IANA zone
//	map_set(m, k, v)        map   1 + size(m)  copy of m with k set to v
//
// Everything else is standard CEL (operators, macros all/exists/map/filter,
// string functions), with the restrictions below.
//
// # Budget
//
// Compile computes the static worst-case cost of every rule and effect with
// CEL's estimator, told the host function costs and the size bounds of every
// variable (the Config limits Execute enforces), and rejects a contract whose
// total is unbounded or above Config.DeployCostLimit. Execute measures actual
// cost with CEL's tracker; the budget Config.ExecCostLimit covers the whole
// call: each expression is stopped by CEL at the limit, and the call is over
// budget as soon as the running sum exceeds it. Over budget denies with
// "cost limit exceeded"; Result.Rule names where it happened.
//
// # Invariants
//
//  1. Same contract, call, state and view answers give the same Result bytes,
//     on every node and every run: no clock, randomness, environment or
//     goroutines inside execution.
//  2. No map order reaches CEL: every map a contract can iterate (params,
//     state, attrs, consent results, map_set results and map literals)
//     iterates in sorted key order; lists whose order is not meaningful
//     (roles, consent lists) are sorted and deduplicated.
//  3. Every execution is bounded by ExecCostLimit; exceeding it, and every
//     evaluation error (division by zero, missing key, overflow, bad zone),
//     denies with a reason naming the rule or effect, the same on every node.
//     A panic during evaluation is recovered into such a deny.
//  4. No floating point: a contract in which any subexpression has a type
//     involving double is rejected at compile; float parameters and state
//     are rejected; an effect that yields a double at run time denies.
//     Integers are int64 everywhere (uint results are converted when they
//     fit, else the effect fails), so values round-trip through CBOR.
//  5. A state view error is never a decision: Execute returns ErrView and the
//     caller fails closed. Other errors are deterministic input rejections.
//  6. A contract version (SHA-256 of its canonical CBOR) is compiled at most
//     once while it stays in the VM's LRU cache; compiled programs are
//     immutable and shared by concurrent callers.
//  7. No input makes the VM panic: calls, states, parameters and sources are
//     validated against Config limits first (fuzzed by FuzzCompileAndExecute).
//
// Time zones: hour_in and weekday_in use time.LoadLocation, which prefers
// the host's zone database and falls back to the copy embedded by
// time/tzdata. Zone rules are therefore an input to consensus: nodes of one
// chain must run the same binary on hosts with the same zoneinfo, or none
// (ZONEINFO pointing at the embedded data).
//
// Formats (deterministic CBOR, integer keys):
//
//	Contract {1 id, 2 owner, 3 version, 4 template, 5 params, 6 rules, 7 effects}
//	Rule     {1 name, 2 effect (1 allow, 2 deny), 3 condition, 4 flags}
//	Effect   {1 key, 2 expression}
//	Call     {1 requester, 2 roles, 3 action, 4 purpose, 5 patient, 6 resource,
//	          7 segment, 8 risk, 9 block time ms, 10 height, 11 attrs}
//	Result   {1 decision, 2 reason, 3 rule, 4 flags, 5 effects, 6 cost, 7 version}
package contracts
