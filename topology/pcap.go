package topology

import (
	"bufio"
	"encoding/binary"
	"time"
)

// The classic libpcap file format (what tcpdump -w writes): a 24-byte
// header, then each frame after a 16-byte record header, all little
// endian, with nanosecond timestamps. gopacket's pcapgo writes the same
// bytes (a test holds it to that).
const (
	pcapMagicNanos    = 0xa1b23c4d
	pcapVersionMajor  = 2
	pcapVersionMinor  = 4
	linkTypeEthernet  = 1
	pcapHeaderLen     = 24
	pcapRecordHeadLen = 16
)

// writePcapHeader writes the file header: time zone and accuracy 0, the
// longest frame kept (snaplen), Ethernet frames.
func writePcapHeader(w *bufio.Writer, snaplen uint32) {
	var h [pcapHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:4], pcapMagicNanos)
	binary.LittleEndian.PutUint16(h[4:6], pcapVersionMajor)
	binary.LittleEndian.PutUint16(h[6:8], pcapVersionMinor)
	binary.LittleEndian.PutUint32(h[16:20], snaplen)
	binary.LittleEndian.PutUint32(h[20:24], linkTypeEthernet)
	w.Write(h[:])
}

// writePcapRecord writes one frame, whole (its captured length is its
// length), stamped with when the kernel saw it.
func writePcapRecord(w *bufio.Writer, at time.Time, data []byte) {
	var h [pcapRecordHeadLen]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(at.Unix()))
	binary.LittleEndian.PutUint32(h[4:8], uint32(at.Nanosecond()))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:16], uint32(len(data)))
	w.Write(h[:])
	w.Write(data)
}
