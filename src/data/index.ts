/** Public API of the data layer. */
export * from './dataset';
export * from './idx';
export * from './fashionMnist';
export * from './provision';
export * from './mnist';
export * from './cifar10';
export * from './synthetic';
export * from './splits';
export * from './batches';
export { PACKAGE_ROOT, LOCAL_DATA_DIR } from './paths';
export { httpGetBuffer } from './download';
