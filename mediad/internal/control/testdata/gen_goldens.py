# Generates the golden files of golden_test.go from a running rtpengine 10.5.
# Start it as
#   rtpengine --config-file=none -t -1 -i 127.0.0.1 -i ::1 -n 127.0.0.1:32222 \
#       -c 127.0.0.1:39901 -f -E -L 7 --delete-delay=0 -m 41000 -M 41999
# then run `python3 gen_goldens.py` in this directory (ng.py is the client).
import sys, re, json, random
sys.path.insert(0, ".")
from ng import req, enc

RUN = 'g%06d-' % random.randint(0, 999999)

def norm_sdp(s):
    out = []
    for line in s.replace('\r\n', '\n').split('\n'):
        line = re.sub(r'^(m=\S+) ([1-9]\d*) ', r'\1 PORT ', line)
        line = re.sub(r'^a=rtcp:\d+', 'a=rtcp:PORT', line)
        line = re.sub(r'^a=ice-ufrag:\S+', 'a=ice-ufrag:ICEUFRAG', line)
        line = re.sub(r'^a=ice-pwd:\S+', 'a=ice-pwd:ICEPWD', line)
        line = re.sub(r'^a=rtpengine:[0-9a-f]{12}', 'a=rtpengine:LOOPER', line)
        m = re.match(r'^a=candidate:(\S+) (\d) UDP (\d+) (\S+) (\d+) typ host$', line)
        if m:
            line = 'a=candidate:ICEBASE %s UDP %s %s PORT typ host' % (m.group(2), m.group(3), m.group(4))
        out.append(line)
    return '\n'.join(out).rstrip('\n') + '\n'

def scenario(name, steps):
    text = ''
    for d, sdp in steps:
        d = dict(d)
        sent = dict(d)
        if 'call-id' in sent:
            sent['call-id'] = RUN + sent['call-id']
        if sdp is not None:
            sent['sdp'] = sdp.replace('\n', '\r\n')
        r = req(sent)
        text += '>>> ' + json.dumps(d) + '\n'
        if sdp is not None:
            text += sdp
        if r.get('result') == 'error':
            text += '<<< error ' + r['error-reason'] + '\n'
        elif 'warning' in r:
            text += '<<< ok warning ' + r['warning'] + '\n'
        elif 'sdp' in r:
            text += '<<< ok\n' + norm_sdp(r['sdp'])
        else:
            res = {k: v for k, v in r.items() if k != 'result'}
            text += '<<< ' + r['result'] + (' ' + json.dumps(res, sort_keys=True) if res else '') + '\n'
    open('./%s.txt' % name, 'w').write(text)

H = "v=0\no=- 1545997027 1 IN IP4 198.51.100.1\ns=tester\n"
PHONE = H + "c=IN IP4 198.51.100.1\nt=0 0\nm=audio 2000 RTP/AVP 0 8 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv\n"
ANS = "v=0\no=- 99 1 IN IP4 198.51.100.3\ns=callee\nc=IN IP4 198.51.100.3\nt=0 0\nm=audio 3000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=sendrecv\n"
def O(cid, **kw): d = {'command': 'offer', 'call-id': cid, 'from-tag': 'ft'}; d.update(kw); return d
def A(cid, **kw): d = {'command': 'answer', 'call-id': cid, 'from-tag': 'ft', 'to-tag': 'tt'}; d.update(kw); return d

scenario('plain_offer_answer', [(O('c1'), PHONE), (A('c1'), ANS)])
scenario('media_level_c', [(O('c2'), H + "t=0 0\nm=audio 2000 RTP/AVP 0\nc=IN IP4 198.51.100.1\na=foo:bar\na=sendrecv\n")])
scenario('attributes_order', [(O('c3'), H + "c=IN IP4 198.51.100.1\nb=AS:64\nt=0 0\na=sess-attr:x\na=sendrecv\nm=audio 2000 RTP/AVP 0 8 18 101\nb=AS:80\na=rtpmap:18 G729/8000\na=fmtp:18 annexb=no\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=maxptime:40\na=x-unknown\na=rtcp:2001\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n")])
scenario('hold_session_zero', [(O('c4'), H + "c=IN IP4 0.0.0.0\nt=0 0\nm=audio 2000 RTP/AVP 0\na=sendonly\n")])
scenario('hold_media_zero_recvonly', [(O('c5'), H + "t=0 0\nm=audio 2000 RTP/AVP 0\nc=IN IP4 0.0.0.0\na=recvonly\n")])
scenario('hold_zero_sendrecv', [(O('c6'), H + "c=IN IP4 0.0.0.0\nt=0 0\nm=audio 2000 RTP/AVP 0\na=sendrecv\n")])
scenario('ipv6', [(O('c7'), "v=0\no=- 1 3 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:db8::1\nt=0 0\nm=audio 2000 RTP/AVP 0\n")])
scenario('ipv6_zero_inactive', [(O('c8'), "v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 ::\nt=0 0\nm=audio 2000 RTP/AVP 0\na=inactive\n")])
scenario('address_family_ip6', [(O('c9', **{'address family': 'IP6'}), H + "t=0 0\nm=audio 2000 RTP/AVP 0\nc=IN IP4 198.51.100.1\nm=video 2002 RTP/AVP 31\nc=IN IP4 198.51.100.1\na=inactive\n")])
scenario('address_family_ip4_from6', [(O('c10', **{'address family': 'IP4'}), "v=0\no=- 1 1 IN IP6 ::1\ns=-\nc=IN IP6 2001:db8::5\nt=0 0\nm=audio 2000 RTP/AVP 0\n")])
MUX = H + "c=IN IP4 198.51.100.1\nt=0 0\nm=audio 2000 RTP/AVP 0 8\na=rtcp-mux\n"
NOMUX = H + "c=IN IP4 198.51.100.1\nt=0 0\nm=audio 2000 RTP/AVP 0 8\n"
AMUX = "v=0\no=- 5 6 IN IP4 198.51.100.3\ns=Bob\nc=IN IP4 198.51.100.3\nt=0 0\nm=audio 3000 RTP/AVP 0\na=rtcp-mux\n"
ANOMUX = AMUX.replace("a=rtcp-mux\n", "")
scenario('rtcpmux_passthrough', [(O('m1'), MUX), (A('m1'), AMUX)])
scenario('rtcpmux_answer_declines', [(O('m2'), MUX), (A('m2'), ANOMUX)])
scenario('rtcpmux_demux', [(O('m3', **{'rtcp-mux': ['demux']}), MUX), (A('m3'), ANOMUX)])
scenario('rtcpmux_accept', [(O('m4', **{'rtcp-mux': ['accept']}), MUX), (A('m4'), ANOMUX)])
scenario('rtcpmux_reject', [(O('m5', **{'rtcp-mux': ['reject']}), MUX), (A('m5'), AMUX)])
scenario('rtcpmux_offer', [(O('m6', **{'rtcp-mux': ['offer']}), NOMUX), (A('m6'), AMUX)])
scenario('rtcpmux_require', [(O('m7', **{'rtcp-mux': ['require']}), NOMUX), (A('m7'), ANOMUX)])
scenario('rtcpmux_string', [(O('m9', **{'rtcp-mux': 'require'}), NOMUX)])
scenario('rtcpmux_reject_in_answer', [(O('m8'), MUX), (A('m8', **{'rtcp-mux': ['reject']}), AMUX)])
scenario('no_rtcp_attribute', [(O('f1', flags=['no-rtcp-attribute']), NOMUX)])
scenario('full_rtcp_attribute', [(O('f2', flags=['full-rtcp-attribute']), MUX)])
scenario('original_sendrecv', [(O('f3', flags=['original-sendrecv']), NOMUX)])
scenario('loop_protect', [(O('f4', flags=['loop-protect']), NOMUX)])
scenario('replace_origin', [(O('f5', replace=['origin', 'session-connection']), NOMUX)])
scenario('replace_origin_ip6', [(O('f6', replace=['origin']), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP6 2001:db8::5\nt=0 0\nm=audio 2000 RTP/AVP 0\n")])
scenario('media_address', [(O('f7', **{'media-address': '192.0.2.9'}), NOMUX)])
scenario('received_from', [(O('f8', **{'received-from': ['IP4', '192.0.2.50']}), NOMUX)])
scenario('replace_username_session_name', [
    (O('f9', replace=['username', 'session-name']), "v=0\no=a 1 1 IN IP4 1.2.3.4\ns=x\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0\n"),
    (O('f9', replace=['username', 'session-name']), "v=0\no=b 7 9 IN IP4 1.2.3.5\ns=y\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0\n")])
V = "v=0\no=- 1 VER IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP PT\n"
scenario('sdp_version', [
    (O('f10', replace=['SDP-version']), V.replace('VER', '1').replace('PT', '0')),
    (O('f10', replace=['SDP-version']), V.replace('VER', '5').replace('PT', '0')),
    (O('f10', replace=['SDP-version']), V.replace('VER', '5').replace('PT', '8'))])
scenario('reinvite_keeps_ports', [(O('r1'), PHONE), (A('r1'), ANS),
    (O('r1', **{'to-tag': 'tt'}), PHONE.replace(' 1 IN IP4', ' 2 IN IP4').replace('a=sendrecv', 'a=sendonly')),
    (A('r1'), ANS.replace('a=sendrecv', 'a=recvonly'))])
scenario('reinvite_from_callee', [(O('r2'), PHONE), (A('r2'), ANS),
    ({'command': 'offer', 'call-id': 'r2', 'from-tag': 'tt', 'to-tag': 'ft'}, ANS),
    ({'command': 'answer', 'call-id': 'r2', 'from-tag': 'tt', 'to-tag': 'ft'}, PHONE)])
scenario('multiple_media', [(O('mm1'), "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=call\nt=0 0\nm=audio 6000 RTP/AVP 0 8\nc=IN IP4 192.0.2.10\na=rtcp:6001\nm=video 6002 RTP/AVP 96\nc=IN IP4 192.0.2.10\nb=AS:512\na=rtpmap:96 H264/90000\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\nm=video 0 RTP/AVP 97\nc=IN IP4 192.0.2.10\nb=AS:100\na=foo\na=sendrecv\n"),
    (A('mm1'), "v=0\no=- 2 1 IN IP4 192.0.2.20\ns=call\nc=IN IP4 192.0.2.20\nt=0 0\nm=audio 7000 RTP/AVP 8\nm=video 7002 RTP/AVP 96\na=rtpmap:96 H264/90000\nm=video 0 RTP/AVP 97\n")])
scenario('static_payload_types', [(O('s1'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0 3 4 8 9 13 18 34 120\n")])
scenario('session_direction', [(O('s2'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\na=sendonly\nm=audio 2000 RTP/AVP 0\nm=video 2002 RTP/AVP 31\na=inactive\n")])
scenario('t38_image', [(O('s3'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=image 2000 udptl t38\na=T38FaxVersion:0\na=T38FaxRateManagement:transferredTCF\na=sendrecv\n")])
scenario('rtcp_fb_and_unlisted', [(O('s4'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0 96\nb=TIAS:64000\ni=info\na=rtpmap:96 opus/48000/2\na=rtcp-fb:* nack\na=rtcp-fb:96 nack pli\na=rtcp-rsize\na=label:1\na=mid:a0\na=rtpmap:97 x/1\na=fmtp:97 x=y\n")])
scenario('no_origin_no_t', [(O('s5'), "v=0\ns=-\nc=IN IP4 1.2.3.4\nm=audio 2000 RTP/AVP 0\n")])
scenario('session_lines', [(O('s6'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\ni=sess info\nu=http://x\ne=a@b\np=+1\nc=IN IP4 1.2.3.4\nb=CT:100\nt=0 0\nr=1 2 3\nz=1 2\nk=prompt\nm=audio 2000 RTP/AVP 0\nk=clear:x\na=rtcp:3000 IN IP4 1.2.3.9\n")])
ICE = "v=0\no=- 1 2 IN IP4 198.51.100.1\ns=-\nc=IN IP4 198.51.100.1\nt=0 0\na=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901234\nm=audio 2000 RTP/AVP 0\na=candidate:1 1 UDP 2130706431 198.51.100.1 2000 typ host\na=candidate:1 2 UDP 2130706430 198.51.100.1 2001 typ host\n"
scenario('ice_passthrough', [(O('i1'), ICE)])
scenario('ice_remove', [(O('i2', ICE='remove'), ICE)])
scenario('ice_force', [(O('i3', ICE='force'), NOMUX)])
scenario('ice_force_mux_require', [(O('i4', ICE='force', **{'rtcp-mux': ['require']}), NOMUX)])
CHROME = open('../../sdp/testdata/chrome.sdp').read()
scenario('webrtc_to_plain', [(O('w1', ICE='remove', DTLS='off', **{'transport-protocol': 'RTP/AVP', 'rtcp-mux': ['demux']}), CHROME.split('m=video')[0])])
scenario('errors', [
    (O('e1'), None),
    ({'command': 'offer', 'from-tag': 'ft'}, NOMUX),
    ({'command': 'offer', 'call-id': 'e2'}, NOMUX),
    (O('e3'), "hello world\n"),
    (O('e4'), "v=0\nfoo\n"),
    (O('e5'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n"),
    (O('e6'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 2000 RTP/AVP 0\n"),
    (O('e7'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nx=foo\nm=audio 2000 RTP/AVP 0\n"),
    (O('e8'), "v=0\no=- 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0\n"),
    (O('e9'), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 foo.bar\nt=0 0\nm=audio 2000 RTP/AVP 0\n"),
    (A('e10'), NOMUX),
    ({'command': 'answer', 'call-id': 'e11', 'from-tag': 'ft'}, NOMUX),
    ({'command': 'query', 'call-id': 'e12'}, None),
    ({'command': 'query'}, None),
    ({'command': 'delete'}, None),
    ({'command': 'delete', 'call-id': 'e13'}, None),
    ({'command': 'delete', 'call-id': 'e14', 'flags': ['fatal']}, None),
    ({'command': 'foo'}, None),
    ({'command': 'ping'}, None),
])
scenario('delete_tags', [(O('d1'), PHONE), (A('d1'), ANS),
    ({'command': 'delete', 'call-id': 'd1', 'from-tag': 'nope'}, None),
    ({'command': 'delete', 'call-id': 'd1', 'from-tag': 'ft', 'to-tag': 'nope', 'flags': ['to-tag']}, None),
    ({'command': 'delete', 'call-id': 'd1', 'from-tag': 'ft', 'fast': 1, 'flags': ['fast']}, None),
    ({'command': 'delete', 'call-id': 'd1'}, None)])
scenario('delete_via_branch', [(O('d2', **{'via-branch': 'z9hG4bK1'}), PHONE),
    ({'command': 'delete', 'call-id': 'd2', 'via-branch': 'other', 'flags': ['fatal']}, None),
    ({'command': 'delete', 'call-id': 'd2', 'via-branch': 'z9hG4bK1', 'flags': ['fast']}, None),
    ({'command': 'query', 'call-id': 'd2'}, None)])
scenario('query_after_offer', [(O('q1', **{'via-branch': 'vb1', 'label': 'L1'}), PHONE), ({'command': 'query', 'call-id': 'q1'}, None)])
scenario('query_after_answer', [(O('q2'), PHONE), (A('q2'), ANS), ({'command': 'query', 'call-id': 'q2'}, None),
    ({'command': 'delete', 'call-id': 'q2', 'from-tag': 'tt'}, None), ({'command': 'query', 'call-id': 'q2'}, None)])
scenario('query_hold_rtcp_mux', [(O('q3'), H + "c=IN IP4 0.0.0.0\nt=0 0\nm=audio 2000 RTP/AVP 0\na=sendonly\na=rtcp-mux\nm=video 2002 RTP/AVP 31\na=rtcp:2005\n"), (A('q3'), AMUX + "m=video 3002 RTP/AVP 31\na=recvonly\n"), ({'command': 'query', 'call-id': 'q3'}, None)])
scenario('query_ipv6', [(O('q4'), "v=0\no=- 1 3 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:db8::1\nt=0 0\nm=audio 2000 RTP/AVP 0\n"), ({'command': 'query', 'call-id': 'q4'}, None)])
scenario('answer_rejects_stream', [(O('a1'), H + "c=IN IP4 198.51.100.1\nt=0 0\nm=audio 2000 RTP/AVP 0\nm=video 2002 RTP/AVP 31\n"), (A('a1'), ANS.replace('a=sendrecv\n', '') + "m=video 0 RTP/AVP 31\n")])
scenario('hold_reinvite', [(O('h1'), PHONE), (A('h1'), ANS),
    (O('h1', **{'to-tag': 'tt'}), PHONE.replace(' 1 IN IP4', ' 2 IN IP4').replace('c=IN IP4 198.51.100.1', 'c=IN IP4 0.0.0.0').replace('a=sendrecv', 'a=sendonly')),
    (A('h1'), ANS.replace('a=sendrecv', 'a=recvonly')),
    (O('h1', **{'to-tag': 'tt'}), PHONE.replace(' 1 IN IP4', ' 3 IN IP4')), (A('h1'), ANS)])
scenario('session_direction_priority', [(O('p%d' % i), "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\na=%s\nm=audio 2000 RTP/AVP 0\na=%s\n" % d) for i, d in enumerate([('sendrecv','sendonly'),('recvonly','sendonly'),('inactive','sendrecv'),('sendonly','recvonly')])])
scenario('avpf_conversion', [(O('t1', **{'transport-protocol': 'RTP/AVPF'}), NOMUX), (A('t1', **{'transport-protocol': 'accept'}), ANOMUX.replace('RTP/AVP', 'RTP/AVPF'))])
scenario('answer_unknown_from_tag', [(O('u1'), PHONE), ({'command': 'answer', 'call-id': 'u1', 'from-tag': 'zz', 'to-tag': 'tt'}, ANS),
    ({'command': 'answer', 'call-id': 'u1', 'from-tag': 'tt', 'to-tag': 'ft'}, PHONE)])
scenario('reject_ice', [(O('ri1', flags=['reject-ICE']), ICE), (A('ri1'), ANOMUX)])
scenario('ice_answer_to_ice_offerer', [(O('ri2'), ICE), (A('ri2'), ANOMUX)])
print('run', RUN)
