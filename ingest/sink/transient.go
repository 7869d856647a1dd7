package sink

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err is a failure that running the same transaction again
// can cure: the connection dropped or was refused (a database restart, a killed
// session, a network cut), or the database rolled it back to break a deadlock. A value
// the database refuses (a *ValueError, a constraint) is not transient.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var ve *ValueError
	if errors.As(err, &ve) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown,
		// cannot connect now (a restart); 40001/40P01: serialization failure, deadlock.
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "40001" || pe.Code == "40P01"
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	for _, d := range drivers {
		if d.Dialect.deadlock != nil && d.Dialect.deadlock(err) {
			return true
		}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// 1053 server shutdown, 2006 gone away, 2013 lost connection, 1213 deadlock, 1205 lock wait.
		return me.Number == 1053 || me.Number == 2006 || me.Number == 2013 || me.Number == 1213 || me.Number == 1205
	}
	return false
}
