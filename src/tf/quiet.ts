/**
 * Keep TF.js's console warnings out of a command's output. The one a user meets is tfjs-backend-cpu's
 * "Hi, looks like you are running TensorFlow.js in Node.js" banner, printed on the first tensor of
 * any command that touches TF.js (setup's export, evaluate): worth reading only where training
 * speed matters, so `train` and `features` keep it and every other command calls this. TF.js
 * routes its warnings through one switch, its PROD flag (it changes nothing else).
 */
export async function quietTfjs(): Promise<void> {
  // Imported here, not statically: the serve images do not ship TF.js, and there is nothing to quiet.
  try {
    const tf = await import('@tensorflow/tfjs');
    tf.env().set('PROD', true);
  } catch {
    // TF.js not installed.
  }
}
