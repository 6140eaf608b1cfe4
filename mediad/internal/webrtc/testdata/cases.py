import sys; sys.path.insert(0,'/tmp/webrtc-eng')
from ng import ng
chrome="""v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 127.0.0.1 46000 typ host generation 0 network-id 1
a=ice-ufrag:aBcD
a=ice-pwd:0123456789abcdefghijklmn
a=ice-options:trickle
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=sendrecv
a=msid:- 7a8b
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:abc
""".replace("\n","\r\n")
phone="""v=0
o=phone 1000 1 IN IP4 127.0.0.1
s=call
c=IN IP4 127.0.0.1
t=0 0
m=audio 46010 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=sendrecv
""".replace("\n","\r\n")
def show(title, r):
    print("=====", title, r.get('result'), r.get('error-reason',b'').decode() if isinstance(r.get('error-reason'),bytes) else '')
    print(r.get('sdp',b'').decode().replace("\r\n","\n"))
case=sys.argv[1]
import os; cid='c-'+case+os.environ.get('SUF','')
if case=='b2b':
    r=ng({'command':'offer','call-id':cid,'from-tag':'ft','sdp':chrome,'ICE':'force-relay','DTLS':'passive','received-from':['IP4','127.0.0.1']}); show('offer b2b', r)
    ans=chrome.replace('a=setup:actpass','a=setup:active').replace('46000','46002')
    r=ng({'command':'answer','call-id':cid,'from-tag':'ft','to-tag':'tt','sdp':ans,'ICE':'force-relay','DTLS':'passive'}); show('answer b2b', r)
elif case=='b2p':
    extra={a.split('=',1)[0]:a.split('=',1)[1].split(',') for a in sys.argv[2:]}
    r=ng({'command':'offer','call-id':cid,'from-tag':'ft','sdp':chrome,'ICE':'remove','transport-protocol':'RTP/AVP','replace':['session-connection','origin'],**{k:v for k,v in extra.items() if not k.startswith('a_')}}); show('offer b2p', r)
    r=ng({'command':'answer','call-id':cid,'from-tag':'ft','to-tag':'tt','sdp':phone,'ICE':'force','transport-protocol':'UDP/TLS/RTP/SAVPF',**{k[2:]:v for k,v in extra.items() if k.startswith('a_')}}); show('answer b2p', r)
elif case=='p2b':
    r=ng({'command':'offer','call-id':cid,'from-tag':'ft','sdp':phone,'ICE':'force','transport-protocol':'UDP/TLS/RTP/SAVPF'}); show('offer p2b', r)
    ans=chrome.replace('a=setup:actpass','a=setup:active')
    r=ng({'command':'answer','call-id':cid,'from-tag':'ft','to-tag':'tt','sdp':ans,'ICE':'remove','transport-protocol':'RTP/AVP','replace':['session-connection','origin']}); show('answer p2b', r)
elif case=='p2p':
    r=ng({'command':'offer','call-id':cid,'from-tag':'ft','sdp':phone,'ICE':'remove','transport-protocol':'RTP/AVP','replace':['session-connection','origin']}); show('offer p2p', r)
    r=ng({'command':'answer','call-id':cid,'from-tag':'ft','to-tag':'tt','sdp':phone.replace('46010','46012'),'ICE':'remove','transport-protocol':'RTP/AVP','replace':['session-connection','origin']}); show('answer p2p', r)
ng({'command':'delete','call-id':cid,'from-tag':'ft'})
