package stop

import (
	"context"
	"testing"
	"time"
)

func TestTheFirstSignalStopsSoftlyAndTheSecondHard(t *testing.T) {
	c := New()
	fin, cancel := Finishing(c.Context())
	defer cancel()
	var why string
	c.OnHard(func(reason string) { why = reason })
	c.Signal()
	if c.Context().Err() == nil {
		t.Fatal("the first signal did not cancel the command's context")
	}
	if fin.Err() != nil || Hard(c.Context()) {
		t.Fatal("the first signal cancelled the work that must finish")
	}
	c.Signal()
	select {
	case <-fin.Done():
	case <-time.After(time.Second):
		t.Fatal("the second signal did not cancel the finishing work")
	}
	if !Hard(c.Context()) || why != "a second signal" {
		t.Fatalf("hard %v, reason %q", Hard(c.Context()), why)
	}
}

func TestTheTimeoutTurnsASoftStopHard(t *testing.T) {
	c := New()
	c.SetTimeout(50 * time.Millisecond)
	fin, cancel := Finishing(c.Context())
	defer cancel()
	start := time.Now()
	c.Signal()
	select {
	case <-fin.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the timeout did not stop hard")
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("stopped hard after %v, before the timeout", took)
	}
}

func TestWithoutAControllerFinishingIsNeverCancelled(t *testing.T) {
	ctx, cancelParent := context.WithCancel(context.Background())
	fin, cancel := Finishing(ctx)
	defer cancel()
	cancelParent()
	if fin.Err() != nil {
		t.Fatal("Finishing was cancelled with its parent")
	}
}
