package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartExitsPromptlyOnEarlySIGINT sends SIGINT to medchain start at
// several points of its first seconds (opening the store and Raft, electing
// itself, the term-start barrier, serving) and requires the process to exit
// within a bound each time; afterwards the node starts and serves as usual.
// It was seen to hang for ever after a SIGINT within about a second of
// start (consensus Close waited on a Raft future that Raft never answers
// once it has shut down).
func TestStartExitsPromptlyOnEarlySIGINT(t *testing.T) {
	dir := initChain(t)
	// A chain with some blocks, so a restart has a log to replay.
	n := startNodeEnv(t, dir, "ZEROTRUST_ENABLED=false")
	env := []string{"MEDCHAIN_RPC=" + n.rpcURL}
	for range 3 {
		mustCLI(t, env, "--data-dir", dir, "tx", "audit", "--as", "doctor456", "--patient", "patient123", "--action", "view_record")
	}
	if err := n.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the loaded node did not exit after SIGINT; its log:\n%s", n.log())
	}

	const bound = 15 * time.Second
	for _, d := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 1500 * time.Millisecond, 3 * time.Second} {
		logf, err := os.CreateTemp(t.TempDir(), "node-*.log")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(medchainBin(t), "start", "--data-dir", dir)
		cmd.Env = cleanEnv("MEDCHAIN_RPC_LISTEN="+freeAddr(t), "MEDCHAIN_CONSENSUS_RAFT_LISTEN="+freeAddr(t))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		time.Sleep(d)
		sent := time.Now()
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatalf("SIGINT %v after start: %v", d, err)
		}
		select {
		case err := <-done:
			t.Logf("SIGINT %v after start: exited in %v (%v)", d, time.Since(sent).Round(time.Millisecond), err)
			if err != nil && !strings.Contains(err.Error(), "interrupt") && !strings.Contains(err.Error(), "exit status") {
				t.Errorf("SIGINT %v after start: %v", d, err)
			}
		case <-time.After(bound):
			_ = cmd.Process.Kill()
			<-done
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("SIGINT %v after start: still running %v later; its log:\n%s", d, bound, b)
		}
		logf.Close()
	}
	n = startNodeEnv(t, dir, "ZEROTRUST_ENABLED=false")
	mustCLI(t, []string{"MEDCHAIN_RPC=" + n.rpcURL}, "--data-dir", dir, "verify")
}

// TestStartClosesWhatOpenOpenedOnSIGINT sends SIGINT while node.Open is
// still running (as soon as the node logs its first line, which Open
// does) and requires a clean exit, not a death by the signal: the node
// says it closed what it had opened, exits 0, and the data dir then opens
// at once in another process (Pebble's and Raft's locks released, no
// crash recovery warned about) and verifies.
func TestStartClosesWhatOpenOpenedOnSIGINT(t *testing.T) {
	dir := initChain(t)
	for i := range 5 {
		logf, err := os.CreateTemp(t.TempDir(), "node-*.log")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(medchainBin(t), "start", "--data-dir", dir)
		cmd.Env = cleanEnv("ZEROTRUST_ENABLED=false", "MEDCHAIN_RPC_LISTEN="+freeAddr(t), "MEDCHAIN_CONSENSUS_RAFT_LISTEN="+freeAddr(t))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Microsecond) {
			if b, _ := os.ReadFile(logf.Name()); strings.Contains(string(b), "level=") {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatal("the node logged nothing within 20 s")
			}
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		var werr error
		select {
		case werr = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("run %d: still running 30 s after SIGINT; its log:\n%s", i, b)
		}
		b, _ := os.ReadFile(logf.Name())
		logf.Close()
		if werr != nil {
			t.Fatalf("run %d: SIGINT while opening: %v (not a clean exit); its log:\n%s", i, werr, b)
		}
		if !strings.Contains(string(b), "interrupted") {
			t.Fatalf("run %d: the log does not say the start was interrupted and closed:\n%s", i, b)
		}
		t.Logf("run %d: %s", i, lastLine(string(b)))
	}
	n := startNodeEnv(t, dir, "ZEROTRUST_ENABLED=false")
	mustCLI(t, []string{"MEDCHAIN_RPC=" + n.rpcURL}, "--data-dir", dir, "verify")
	if l := n.log(); strings.Contains(l, "torn") || strings.Contains(l, "level=ERROR") {
		t.Fatalf("the reopened node warns of an unclean stop:\n%s", l)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
