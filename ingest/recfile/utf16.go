package recfile

import (
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// utf16Reader converts UTF-16 (after its byte order mark) to UTF-8. Invalid sequences
// become U+FFFD, so the records still reach the normalizer and quarantine.
type utf16Reader struct {
	r         io.Reader
	bigEndian bool
	in        [32 << 10]byte
	have      int    // bytes in in
	out       []byte // converted, not yet returned
	err       error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.fill()
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *utf16Reader) unit(i int) uint16 {
	a, b := u.in[2*i], u.in[2*i+1]
	if u.bigEndian {
		return uint16(a)<<8 | uint16(b)
	}
	return uint16(b)<<8 | uint16(a)
}

func (u *utf16Reader) fill() {
	n, err := u.r.Read(u.in[u.have:])
	u.have += n
	units := u.have / 2
	// A high surrogate at the end waits for its pair in the next read.
	if err == nil && units > 0 {
		if last := u.unit(units - 1); last >= 0xD800 && last < 0xDC00 {
			units--
		}
	}
	u.out = u.out[:0]
	for i := 0; i < units; i++ {
		r := rune(u.unit(i))
		if utf16.IsSurrogate(r) {
			if i+1 < units {
				if dec := utf16.DecodeRune(r, rune(u.unit(i+1))); dec != utf8.RuneError {
					u.out = utf8.AppendRune(u.out, dec)
					i++
					continue
				}
			}
			r = utf8.RuneError
		}
		u.out = utf8.AppendRune(u.out, r)
	}
	u.have = copy(u.in[:], u.in[2*units:u.have])
	if err != nil {
		if u.have > 0 { // an odd byte or a lone high surrogate at the end
			u.out = utf8.AppendRune(u.out, utf8.RuneError)
			u.have = 0
		}
		u.err = err
	}
}
