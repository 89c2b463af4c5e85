// Sign-up -> the confirmation email -> confirm -> sign in, in headless Chromium at
// phone width, as a person does it: by labels, buttons and the keyboard.
//
// Usage: node sign_up.mjs BASE_URL SES_URL EMAIL
//   BASE_URL  the console's origin (the app a Rust test started)
//   SES_URL   LocalStack's /_aws/ses, where the confirmation email is read
// Exits non-zero, with the reason, at the first thing that is not as expected.
import { chromium } from 'playwright-core';

const [base, sesUrl, email] = process.argv.slice(2);
const password = 'correct horse battery staple';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

async function confirmationLink() {
  for (let i = 0; i < 60; i++) {
    const { messages } = await (await fetch(sesUrl)).json();
    const mine = messages.find((m) => (m.Destination.ToAddresses ?? []).includes(email));
    if (mine) {
      const link = mine.Body.text_part.split(/\s+/).find((w) => w.includes('/console/verify-email?token='));
      // The email's links use CONSOLE_PUBLIC_URL; the app under test listens elsewhere.
      return base + link.slice(link.indexOf('/console/'));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no confirmation email for ${email} at ${sesUrl}`);
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
try {
  page.setDefaultTimeout(15000);

  await page.goto(`${base}/console/sign-up`);
  // The first Tab reaches the skip link: the page is keyboard-navigable from the top.
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent) === 'Skip to content', 'the skip link first');

  await page.getByLabel('Business name').fill('Browser Boots');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').getByText('Use at least 10 characters.').waitFor();
  expect(await page.getByLabel('Work email').inputValue() === email, 'the typed address kept');

  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

  await page.goto(await confirmationLink());
  await page.getByRole('button', { name: 'Confirm my email' }).click();
  await page.getByRole('heading', { name: 'Your email is confirmed' }).waitFor();
  await page.getByRole('link', { name: 'Sign in' }).click();

  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Welcome' }).waitFor();
  expect(await page.getByText('Browser Boots').count() > 0, 'the tenant on the home page');

  // Nothing wider than the phone's screen.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 390, `no horizontal scroll at 390 px (page is ${width} px)`);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  console.log('ok: sign-up, confirmation email, confirm, sign in, sign out');
} catch (error) {
  // What the page looked like, for whoever reads the failure.
  const shot = `${process.env.SCREENSHOT_DIR ?? '/tmp'}/nudge-browser-failure.png`;
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`at ${page.url()} (screenshot: ${shot})`);
  throw error;
} finally {
  await browser.close();
}
