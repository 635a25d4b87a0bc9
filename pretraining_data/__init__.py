"""ELECTRA pretraining data: the one contract between the TFRecords job (the writer) and pretraining (the reader).

- `contract`: the feature spec, file names, `pretrain_data.json` and its checks (`DataMismatchError`);
- `packing`: ELECTRA's example builder over token ids (sentences of one document in, segment pairs out);
- `encoding`: segment pairs -> serialised `tf.train.Example` bytes and TFRecord framing, without TensorFlow;
- `examples`: one text file's lines -> tokenized, packed, keyed and encoded examples, with their counts.

Plain Python (no Apache Beam, no TensorFlow): `pipelines.tfrecords` runs `examples` on Beam workers and
`pretrain.data` reads what it wrote with tf.data, both checking it through `contract`. The vocabulary directory
contract is `vocab.vocabulary`.
"""
