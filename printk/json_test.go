package printk

import (
	"bytes"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	l := &Log{Records: []Record{
		{Seq: 7, TimestampNs: 1500, CallerID: 0x80000002, HasCaller: true, Level: 3, Facility: 0, Subsystem: "pci", Device: "+pci:0000:00:01.0", Text: "a <b> & \x01"},
		{Seq: 8, TimestampNs: 2000, CallerID: 42, HasCaller: true, Level: -1, Facility: -1, Text: "task"},
		{Seq: 9, Level: -1, Facility: -1, Text: "old"},
	}}
	var b bytes.Buffer
	if err := l.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{"seq":7,"timestamp_ns":1500,"caller":{"cpu":2},"level":3,"facility":0,"subsystem":"pci","device":"+pci:0000:00:01.0","text":"a <b> & \\x01"}
{"seq":8,"timestamp_ns":2000,"caller":{"pid":42},"text":"task"}
{"seq":9,"timestamp_ns":0,"text":"old"}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
