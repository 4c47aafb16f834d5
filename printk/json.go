package printk

import (
	"bufio"
	"encoding/json"
	"io"
)

// JSONRecord is one line of Log.WriteJSON ("gokdump dmesg --json"). The field names are
// a stable interface: fields are only ever added. A field the kernel's log layout does
// not record is left out.
type JSONRecord struct {
	Seq         uint64      `json:"seq"`
	TimestampNs uint64      `json:"timestamp_ns"`
	Caller      *JSONCaller `json:"caller,omitempty"`
	Level       *int        `json:"level,omitempty"`
	Facility    *int        `json:"facility,omitempty"`
	Subsystem   string      `json:"subsystem,omitempty"`
	Device      string      `json:"device,omitempty"`
	// Text is escaped as in the text output ("\xNN" for bytes that are neither printable
	// ASCII nor white space), so it is plain ASCII whatever the kernel stored.
	Text string `json:"text"`
}

// JSONCaller is who printed: a task (pid) or a CPU in interrupt context.
type JSONCaller struct {
	PID *uint32 `json:"pid,omitempty"`
	CPU *uint32 `json:"cpu,omitempty"`
}

// WriteJSON writes l as JSON lines, one JSONRecord per record.
func (l *Log) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // kernel text is full of <, > and &; keep it readable
	var text []byte
	for i := range l.Records {
		r := &l.Records[i]
		text = AppendEscaped(text[:0], r.Text)
		out := JSONRecord{Seq: r.Seq, TimestampNs: r.TimestampNs, Subsystem: r.Subsystem, Device: r.Device, Text: string(text)}
		if id, isCPU, ok := r.Caller(); ok {
			if isCPU {
				out.Caller = &JSONCaller{CPU: &id}
			} else {
				out.Caller = &JSONCaller{PID: &id}
			}
		}
		if r.Level >= 0 {
			out.Level = &r.Level
		}
		if r.Facility >= 0 {
			out.Facility = &r.Facility
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return bw.Flush()
}
