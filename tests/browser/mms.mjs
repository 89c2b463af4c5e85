// An MMS from the console, in headless Chromium at phone width, against the whole
// stack: a marketer uploads an image (the file chooser), sees its thumbnail, sends it
// with a message and watches the message reach `delivered`.
//
// Usage: node mms.mjs BASE_URL EMAIL TO
//   EMAIL  a marketer or an owner whose password is lib.mjs's PASSWORD
import { fileURLToPath } from 'node:url';
import { PASSWORD, expect, expectNoSidewaysScroll, loadedWidth, run } from './lib.mjs';

const [base, email, to] = process.argv.slice(2);
const image = fileURLToPath(new URL('./fixtures/parcel.png', import.meta.url));

await run('mms', async (page) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const nav = page.getByRole('navigation', { name: 'Account' });
  await nav.getByRole('link', { name: 'Images' }).click();

  await page.getByLabel('Image file').setInputFiles(image);
  await page.getByRole('button', { name: 'Upload' }).click();
  const thumbnail = page.getByRole('img', { name: 'parcel.png' });
  await thumbnail.waitFor();
  const width = await loadedWidth(thumbnail);
  expect(width === 48, `the thumbnail loads the 48 px wide image (${width} px)`);
  await expectNoSidewaysScroll(page);

  await nav.getByRole('link', { name: 'Messages' }).click();
  await page.getByRole('link', { name: 'Send a message' }).click();
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByLabel('Text').fill('Your parcel, as it left us.');
  await page.getByLabel('Image (MMS)').selectOption({ label: 'parcel.png (48 × 32)' });
  await page.getByRole('radio', { name: /Transactional/ }).check();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('heading', { name: `Message to ${to}` }).waitFor();
  await page.locator('#status', { hasText: 'delivered' }).waitFor({ timeout: 60000 });
});
