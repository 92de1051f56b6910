"""The network: a compact 3D U-Net (TensorFlow/Keras); imported only inside the network environment."""


def build_unet(base=16, depth=3, seed=None):
    """Fully convolutional 3D U-Net: ``depth`` poolings, ``base`` channels doubling per level.

    Input and output (batch, z, y, x, 1); any size divisible by ``2**depth``.
    """
    import keras
    from keras import layers

    init = keras.initializers.HeNormal(seed=seed)

    def block(x, channels, name):
        for i in (1, 2):
            x = layers.Conv3D(channels, 3, padding='same', activation='relu', kernel_initializer=init,
                              name='%s_conv%d' % (name, i))(x)
        return x

    inp = keras.Input((None, None, None, 1), name='map')
    x, skips, channels = inp, [], base
    for level in range(depth):
        x = block(x, channels, 'down%d' % level)
        skips.append(x)
        x = layers.AveragePooling3D(2, name='pool%d' % level)(x)
        channels *= 2
    x = block(x, channels, 'bottom')
    for level in reversed(range(depth)):
        channels //= 2
        x = layers.UpSampling3D(2, name='up%d' % level)(x)
        x = layers.Conv3D(channels, 2, padding='same', kernel_initializer=init, name='up%d_proj' % level)(x)
        x = layers.Concatenate(name='skip%d' % level)([x, skips[level]])
        x = block(x, channels, 'dec%d' % level)
    out = layers.Conv3D(1, 1, name='denoised', kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    return keras.Model(inp, out, name='relion_dem_unet')
