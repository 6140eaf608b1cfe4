// Works sipproxy's demo softphone (the page `make run` serves) as its
// instructions tell a person to: register (as the URL's ?user=, else the
// page's default, alice), call the URL's ?target= (bob) or, with ?answer,
// wait for a call and answer it; stay in the call until audio has arrived;
// with ?hold click Hold, then Resume, and wait for more audio; with
// ?dtmf=TONES send them (RFC 4733); hang up. The result: the audio
// packets the page received (and after the resume), the call's state at
// each step and the page's log.
export async function drive(page, timeout) {
  const params = new URL(page.url()).searchParams;
  const target = params.get('target') || 'bob';
  const text = (id) => page.evaluate((id) => document.getElementById(id).textContent, id);
  // Waits until element id's text starts with one of outcomes; fails
  // unless it is the first (what the step wants).
  const until = async (id, ...outcomes) => {
    await page.waitForFunction(([id, outcomes]) => outcomes.some((o) =>
      document.getElementById(id).textContent.startsWith(o)), [id, outcomes], { timeout });
    const got = await text(id);
    if (!got.startsWith(outcomes[0])) throw new Error(`${id}: ${got}, want ${outcomes[0]}`);
  };
  const result = { inbound: 0 };
  let failure = '';
  try {
    // The WebSocket field is filled from /config.json.
    await page.waitForFunction(() => document.getElementById('ws').value !== '', null, { timeout });
    if (params.get('user')) await page.fill('#user', params.get('user'));
    await page.click('#register');
    await until('regstate', 'registered', 'failed');
    if (params.has('answer')) {
      // The Answer button comes alive with an incoming call.
      await page.waitForSelector('#answer:enabled', { timeout });
      await page.click('#answer');
    } else {
      await page.fill('#target', target);
      await page.click('#call');
    }
    await until('callstate', 'in call', 'ended');
    // Polls the call's inbound audio packets until there are want.
    const inbound = async (want) => {
      let n = 0;
      for (let i = 0; i < 100 && n < want; i++) {
        await page.waitForTimeout(100);
        // session: the page's top-level binding for the current call.
        n = await page.evaluate(async () => {
          let n = 0;
          (await session.connection.getStats()).forEach((r) => {
            if (r.type === 'inbound-rtp' && r.kind === 'audio') n = r.packetsReceived;
          });
          return n;
        });
      }
      return n;
    };
    result.inbound = await inbound(50);
    if (params.has('hold')) {
      await page.click('#hold');
      await until('callstate', 'on hold', 'ended');
      await page.click('#hold');
      await until('callstate', 'in call', 'ended');
      result.held = true;
      result.inboundAfter = await inbound(result.inbound + 10);
    }
    if (params.get('dtmf')) {
      await page.fill('#dtmf', params.get('dtmf'));
      await page.click('#senddtmf');
      // 100 ms a tone and 500 ms between them (JsSIP's defaults).
      await page.waitForTimeout(600 * params.get('dtmf').length + 1000);
    }
    await page.click('#hangup');
    await until('callstate', 'ended');
  } catch (e) {
    failure = String(e);
  }
  result.regstate = await text('regstate');
  result.callstate = await text('callstate');
  result.log = await text('log');
  if (failure) {
    result.error = `${failure}; registration: ${result.regstate}; call: ${result.callstate}; log:\n${result.log}`;
  }
  await page.evaluate((r) => { window.__result = r; }, result);
}
