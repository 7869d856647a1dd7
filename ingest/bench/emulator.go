package bench

import (
	"context"

	"time"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// EmulatorSpec is what the benchmark asks of an emulator.
type EmulatorSpec struct {
	Seed          int64
	RecordsPerDay int
	BlobInterval  time.Duration
	Latency       time.Duration
}

// Emulator is a running emulator of the Management Activity API, with no quota.
type Emulator struct {
	BaseURL, TenantID, ClientID, ClientSecret string
	// InProcess says whether it runs in this process (its memory and CPU then count in
	// the pipeline's figures).
	InProcess bool
	Close     func() error
}

// StartEmulator starts an emulator serving spec's data, and returns when it is ready.
type StartEmulator func(ctx context.Context, spec EmulatorSpec) (*Emulator, error)

// InProcess starts the emulator in this process. It holds every record in memory (about
// 1.5 GB for a million), so the pipeline's peak RSS then includes it; `o365ingest bench`
// runs it in a child process instead.
func InProcess(_ context.Context, spec EmulatorSpec) (*Emulator, error) {
	emu, err := emulator.New(emulator.Options{Seed: spec.Seed, RecordsPerDay: spec.RecordsPerDay, BlobInterval: spec.BlobInterval,
		Latency: spec.Latency, RateLimit: -1})
	if err != nil {
		return nil, err
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &Emulator{BaseURL: base, TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		InProcess: true, Close: emu.Close}, nil
}
