package faults_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileSoak runs every hostile case at the sizes with the default limits,
// each in a child process of this test binary, and prints the peak RSS of each (the
// child's maximum resident set, the fake servers and the database included). Issue 11
// asks for at most 512 MB in every case. It takes several minutes (the trickled body
// waits out two blob_timeouts of 2 minutes), so it runs only when asked:
//
//	O365INGEST_HOSTILE_SOAK=1 go test -run TestHostileSoak -timeout 0 -v ./ingest/faults/
func TestHostileSoak(t *testing.T) {
	if os.Getenv("O365INGEST_HOSTILE_SOAK") == "" {
		t.Skip("set O365INGEST_HOSTILE_SOAK=1 to run the hostile cases at full size")
	}
	const limitMB = 512
	cases := []string{
		"TestHostileBlobBodies/a_blob_holding_one_record_with_a_1_GiB_string",
		"TestHostileBlobBodies/a_blob_of_2_GiB_of_\\[",
		"TestHostileBlobBodies/a_gzip_body_inflating_to_\\[,_1_GiB_of_spaces,_\\]",
		"TestHostileBlobBodies/a_body_trickled_at_one_byte_every_5_s",
		"TestHostileRecordOverTheLimit",
		"TestHostileEndlessListing/the_new_blobs_one_unit_holds_are_bounded",
		"TestHostileRedirects/the_token_endpoint_answers_307_to_another_host",
		"TestHostileRedirects/a_blob_answers_302_to_the_same_host_on_another_port",
		"TestHostileRedirects/a_blob_answers_302_to_another_host_that_serves_\\[\\]",
		"TestHostileContentIDs/sqlite",
	}
	var report []string
	for _, name := range cases {
		parts := strings.Split(name, "/")
		for i := range parts {
			parts[i] = "^" + parts[i] + "$"
		}
		cmd := exec.Command(os.Args[0], "-test.run", strings.Join(parts, "/"), "-test.count=1", "-test.v", "-test.timeout=0")
		cmd.Env = append(os.Environ(), "O365INGEST_HOSTILE_FULL=1", "O365INGEST_HOSTILE_SOAK=")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start).Round(time.Second)
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		rssMB := 0.0
		if ru != nil {
			rssMB = float64(ru.Maxrss) / 1024 // Linux reports KiB
		}
		passed := err == nil && strings.Contains(string(out), "--- PASS") && !strings.Contains(string(out), "--- SKIP")
		line := fmt.Sprintf("%-80s peak RSS %6.1f MB  %6s  %s", strings.ReplaceAll(name, "\\", ""), rssMB, took, map[bool]string{true: "PASS", false: "FAIL"}[passed])
		t.Log(line)
		report = append(report, line)
		if !passed {
			t.Errorf("%s failed:\n%s", name, tail(string(out), 40))
		}
		if rssMB > limitMB {
			t.Errorf("%s: peak RSS %.1f MB is over %d MB", name, rssMB, limitMB)
		}
	}
	fmt.Println("hostile cases at full size, default limits:")
	for _, l := range report {
		fmt.Println("  " + l)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
