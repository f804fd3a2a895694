/** `data`: make Fashion-MNIST available and say how (the main commands do the same on their own when needed). */
import { provisionFashionMnist } from '../data/provision';
import { Command } from './command';

export const dataCommand: Command = {
  spec: {
    name: 'data',
    summary: 'make Fashion-MNIST available (Debian package when root, else download) and say what was done',
    options: [{ name: 'help', type: 'flag', help: 'show this help' }],
  },
  async run() {
    const r = await provisionFashionMnist((s) => console.log(s));
    console.log(`Fashion-MNIST: ${r.action} → ${r.dir}`);
    return 0;
  },
};
