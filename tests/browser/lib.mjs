// What the browser scripts share: launching Debian's Chromium at phone width, reading
// emails from LocalStack's SES, and leaving a screenshot when something fails.
import { chromium } from 'playwright-core';

export const PASSWORD = 'correct horse battery staple';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

// The newest email to `to` whose text matches `pattern`, once SES has it (the first
// capture group, or the whole match).
export async function fromEmail(sesUrl, to, pattern) {
  for (let i = 0; i < 60; i++) {
    const { messages } = await (await fetch(sesUrl)).json();
    const mine = messages.filter((m) => (m.Destination.ToAddresses ?? []).includes(to)).reverse();
    for (const email of mine) {
      const found = email.Body.text_part.match(pattern);
      if (found) return found[1] ?? found[0];
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no email to ${to} matching ${pattern} at ${sesUrl}`);
}

// A link from an email, moved to the app under test: the email's links use
// CONSOLE_PUBLIC_URL, the app a test started listens elsewhere.
export function onApp(base, link) {
  return base + link.slice(link.indexOf('/console/'));
}

// Nothing wider than the phone's screen. Measured once the page has loaded: before its
// stylesheet arrives, a page is laid out unstyled, and a long address overflows.
export async function expectNoSidewaysScroll(page) {
  await page.waitForLoadState('load');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 390, `no horizontal scroll at 390 px (${page.url()} is ${width} px)`);
}

// The natural width of an <img> once the browser has its answer (0 if the image could
// not be loaded): the element is on the page before its image has arrived.
export async function loadedWidth(img) {
  return img.evaluate((element) =>
    element.complete
      ? element.naturalWidth
      : new Promise((resolve) => {
          element.addEventListener('load', () => resolve(element.naturalWidth));
          element.addEventListener('error', () => resolve(0));
        }),
  );
}

// Runs `steps(page, newPage)` in a fresh browser; on failure saves a screenshot of the
// page that failed and says where, then exits non-zero.
export async function run(name, steps) {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  let current;
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    current = await context.newPage();
    current.setDefaultTimeout(15000);
    return current;
  };
  try {
    await steps(await newPage(), newPage);
    console.log(`ok: ${name}`);
  } catch (error) {
    const shot = `${process.env.SCREENSHOT_DIR ?? '/tmp'}/nudge-browser-${name}.png`;
    await current?.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`${name} failed at ${current?.url()} (screenshot: ${shot})`);
    console.error(error);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
