package sink

import "testing"

func TestPGScrubJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":"x"}`, `{"a":"x"}`},
		{`{"a":"\u0000"}`, `{"a":"\ufffd"}`},
		{`{"a":"x\u0000y\u0000"}`, `{"a":"x\ufffdy\ufffd"}`},
		{`{"a":"\\u0000"}`, `{"a":"\\u0000"}`},           // an escaped backslash, then text
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},         // an escaped backslash, then the escape
		{`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d\ude00"}`}, // a surrogate pair stays
		{`{"a":"\ud83d"}`, `{"a":"\ufffd"}`},             // a lone high half
		{`{"a":"\ude00x"}`, `{"a":"\ufffdx"}`},           // a lone low half
		{`{"a":"\u00e9"}`, `{"a":"\u00e9"}`},
	} {
		got, changed := pgScrubJSON(c.in)
		if got != c.want || changed != (c.in != c.want) {
			t.Errorf("pgScrubJSON(%s) = %s, %v; want %s", c.in, got, changed, c.want)
		}
	}
}
