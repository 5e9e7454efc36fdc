package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNode counts its closes.
type fakeNode struct {
	closes   atomic.Int32
	closeErr error
}

func (f *fakeNode) Close() error { f.closes.Add(1); return f.closeErr }

// TestOpenOrCloseClosesWhatAnInterruptedOpenOpened: a signal while the
// node is opening does not abandon it: openOrClose waits for the open to
// finish, closes the node once and reports the interrupt; an open that
// finishes first is returned open; an open that fails after the interrupt
// has nothing to close; a close that fails is reported.
func TestOpenOrCloseClosesWhatAnInterruptedOpenOpened(t *testing.T) {
	openErr, closeErr := errors.New("open failed"), errors.New("close failed")
	tests := []struct {
		name        string
		interrupt   bool
		openErr     error
		closeErr    error
		wantErr     []error // errors.Is targets; none: success
		wantCloses  int32
		wantNode    bool
		wantSignals int32
	}{
		{"open finishes", false, nil, nil, nil, 0, true, 0},
		{"open fails", false, openErr, nil, []error{openErr}, 0, false, 0},
		{"interrupted while opening", true, nil, nil, []error{errInterrupted}, 1, false, 1},
		{"interrupted, then open fails", true, openErr, nil, []error{errInterrupted, openErr}, 0, false, 1},
		{"interrupted, then close fails", true, nil, closeErr, []error{errInterrupted, errCloseAfterInterrupt, closeErr}, 1, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeNode{closeErr: tt.closeErr}
			release, opened := make(chan struct{}), make(chan struct{})
			var signals atomic.Int32
			type result struct {
				n   *fakeNode
				err error
			}
			got := make(chan result, 1)
			go func() {
				n, err := openOrClose(ctx, func() (*fakeNode, error) {
					close(opened)
					<-release
					if tt.openErr != nil {
						return nil, tt.openErr
					}
					return f, nil
				}, func() { signals.Add(1) })
				got <- result{n, err}
			}()
			<-opened
			if tt.interrupt {
				cancel()
				select {
				case r := <-got:
					t.Fatalf("returned %+v while the open was still running", r)
				case <-time.After(50 * time.Millisecond):
				}
				if f.closes.Load() != 0 {
					t.Fatal("closed before the open finished")
				}
			}
			close(release)
			r := <-got
			for _, want := range tt.wantErr {
				if !errors.Is(r.err, want) {
					t.Errorf("err %v, want it to be %v", r.err, want)
				}
			}
			if tt.wantErr == nil && r.err != nil {
				t.Errorf("err %v", r.err)
			}
			if (r.n != nil) != tt.wantNode || f.closes.Load() != tt.wantCloses || signals.Load() != tt.wantSignals {
				t.Errorf("node %v, %d closes, %d interrupt calls; want node %v, %d closes, %d calls",
					r.n != nil, f.closes.Load(), signals.Load(), tt.wantNode, tt.wantCloses, tt.wantSignals)
			}
		})
	}
	// Interrupted before anything opened: nothing is opened.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if _, err := openOrClose(ctx, func() (*fakeNode, error) { ran = true; return &fakeNode{}, nil }, func() {}); !errors.Is(err, errInterrupted) || ran {
		t.Fatalf("interrupted before the open: err %v, open ran %v", err, ran)
	}
}
